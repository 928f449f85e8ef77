/** The admin API's guards without Consul: the token check and its scopes, the body limit, and the error mapping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from '../../../shared/errors.js';
import { adminRoutes } from '../routes.js';
import { READ_TOKEN, TOKEN, appWith, fakeDeps, get, json, post } from './fakes.test-helper.js';
import { ADMIN_BODY_LIMIT_BYTES, INTERNAL_MESSAGE } from './guards.js';

type ErrorJson = { error: { code: string; message: string } };

describe('admin guards', () => {
  const routes = (d: Parameters<typeof appWith>[0]) =>
    appWith(d, (app) => {
      app.get('/read', (c) => c.json({ read: true }));
      app.post('/write', (c) => c.json({ wrote: true }));
      app.post('/refuse', () => {
        throw new HttpError('not_ready', 'not yet', { headers: { 'retry-after': '3' } });
      });
      app.post('/crash', () => {
        throw new Error('disk on fire');
      });
      app.post('/internal', () => {
        throw new HttpError('internal', 'consul said: bad value at cellsim/cells/cell-0');
      });
    });

  it('lets a read through with a read or an operator token, and a mutation with an operator token', async () => {
    const app = routes(fakeDeps().deps);
    for (const token of [READ_TOKEN, TOKEN]) {
      assert.deepEqual(await json(await get(app, '/read', token)), { read: true });
      assert.equal((await app.request('/read', { method: 'HEAD', headers: { authorization: `Bearer ${token}` } })).status, 200);
    }
    const res = await post(app, '/write', {});
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { wrote: true });
  });

  it('answers 401 unauthorized (JSON, with a WWW-Authenticate challenge) without a configured token, without a bearer token, with a malformed or a wrong one; reads too', async () => {
    const cases: [boolean, Record<string, string>, RegExp][] = [
      [false, { authorization: `Bearer ${TOKEN}` }, /admin API is disabled: no token is configured/],
      [true, {}, /missing bearer token/],
      [true, { authorization: `Basic ${TOKEN}` }, /malformed Authorization header/],
      [true, { authorization: 'Bearer ' }, /malformed Authorization header/],
      [true, { authorization: 'Bearer test-operator-tokeN' }, /wrong token/],
      [true, { authorization: `Bearer ${TOKEN}x` }, /wrong token/],
      [true, { authorization: `Bearer ${TOKEN.slice(1)}` }, /wrong token/],
    ];
    for (const [configured, headers, re] of cases) {
      const { deps } = fakeDeps();
      if (!configured) deps.tokens = [];
      for (const method of ['POST', 'GET']) {
        const res = await routes(deps).request(method === 'GET' ? '/read' : '/write', { method, headers });
        const body = await json<ErrorJson>(res);
        assert.equal(res.status, 401, JSON.stringify({ method, configured, headers }));
        assert.equal(body.error.code, 'unauthorized');
        assert.match(body.error.message, re);
        if (configured) assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /);
      }
    }
  });

  it('answers 403 forbidden to a mutation with the read-only token', async () => {
    const res = await post(routes(fakeDeps().deps), '/write', {}, READ_TOKEN);
    assert.equal(res.status, 403);
    assert.deepEqual(await json(res), {
      error: { code: 'forbidden', message: "token 'reader' has the read scope; this needs an operator token" },
    });
  });

  it('refuses a body over the limit with 413 payload_too_large (JSON), declared or streamed', async () => {
    const app = routes(fakeDeps().deps);
    const big = JSON.stringify({ pad: 'x'.repeat(ADMIN_BODY_LIMIT_BYTES) });
    const declared = await post(app, '/write', { pad: 'x'.repeat(ADMIN_BODY_LIMIT_BYTES) });
    assert.equal(declared.status, 413);
    assert.equal((await json<ErrorJson>(declared)).error.code, 'payload_too_large');
    const streamed = await app.request('/write', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(ctl) {
          ctl.enqueue(new TextEncoder().encode(big));
          ctl.close();
        },
      }),
      duplex: 'half',
    });
    assert.equal(streamed.status, 413);
  });

  it('answers an HttpError with its status, code and headers, and anything else as a logged 500 internal that echoes nothing', async () => {
    const f = fakeDeps();
    const app = routes(f.deps);
    const refused = await post(app, '/refuse', {});
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '3');
    assert.deepEqual(await json(refused), { error: { code: 'not_ready', message: 'not yet' } });
    assert.equal(f.logged.errors.length, 0);
    const crashed = await post(app, '/crash', {});
    assert.equal(crashed.status, 500);
    assert.deepEqual(await json(crashed), { error: { code: 'internal', message: INTERNAL_MESSAGE } });
    assert.doesNotMatch(JSON.stringify(await json(await post(app, '/crash', {}))), /disk on fire/);
    assert.equal(f.logged.errors.length, 2);
    assert.deepEqual(
      { ...(f.logged.errors[0]?.obj as object), stack: undefined },
      { err: 'disk on fire', path: '/crash', stack: undefined },
    );
    assert.equal(f.logged.errors[0]?.msg, 'admin request failed');
    const internal = await post(app, '/internal', {});
    assert.equal(internal.status, 500);
    assert.deepEqual(
      await json(internal),
      { error: { code: 'internal', message: INTERNAL_MESSAGE } },
      'an HttpError of 500 is not echoed either',
    );
  });

  it('puts every route of adminRoutes behind a token, and every mutation behind the operator scope: nothing is called, written or audited', async () => {
    const f = fakeDeps();
    const called: string[] = [];
    for (const fake of [f.migrator, f.rollouts, f.evacuator, f.lifecycle] as Record<string, unknown>[]) {
      for (const [k, fn] of Object.entries(fake)) {
        if (typeof fn === 'function') fake[k] = (...a: unknown[]) => (called.push(k), (fn as (...x: unknown[]) => unknown)(...a));
      }
    }
    const app = adminRoutes(f.deps);
    const reads = [
      '/status',
      '/cells',
      '/markets',
      '/migrations',
      '/migrations/sf',
      '/rollouts',
      '/rollouts/r1',
      '/cells/cell-1/evacuation',
      '/audit',
    ];
    for (const path of reads) {
      const res = await get(app, path, null);
      assert.equal(res.status, 401, path);
      assert.equal((await json<ErrorJson>(res)).error.code, 'unauthorized');
    }
    const paths = [
      '/migrations',
      '/migrations/sf/abort',
      '/markets/sf/assign',
      '/cells/cell-1/drain',
      '/cells/cell-1/activate',
      '/cells/cell-1/evacuate',
      '/cells/cell-9/add',
      '/cells/cell-1/retire',
      '/rollouts',
      '/rollouts/abort',
      '/cells/cell-1/rollback',
    ];
    for (const [token, status, code] of [
      [null, 401, 'unauthorized'],
      [READ_TOKEN, 403, 'forbidden'],
    ] as const) {
      for (const path of paths) {
        const res = await post(app, path, { market: 'sf', to: 'cell-2', cell: 'cell-2', version: 'v2' }, token);
        assert.equal(res.status, status, path);
        assert.equal((await json<ErrorJson>(res)).error.code, code);
      }
    }
    assert.deepEqual(called, []);
    assert.deepEqual(f.kv.puts, []);
    assert.deepEqual(f.audit, []);
  });

  it('refuses a path ID of every mutation that is not one (400), before anything is read, written or audited', async () => {
    const f = fakeDeps();
    const reads: string[] = [];
    const getJson = f.kv.getJson.bind(f.kv);
    f.kv.getJson = async (schema, key) => {
      reads.push(key);
      return getJson(schema, key);
    };
    f.migrator.get = async () => void reads.push('migrator.get');
    const app = adminRoutes(f.deps);
    const cases: [string, string][] = [
      ['/migrations/..%2Fcells%2Fcell-0/abort', 'invalid_market'],
      ['/markets/..%2Fcells%2Fcell-0/assign', 'invalid_market'],
      ['/markets/SF/assign', 'invalid_market'],
      ['/cells/..%2Fmarkets%2Fsf/drain', 'invalid_request'],
      ['/cells/..%2Fmarkets%2Fsf/activate', 'invalid_request'],
      ['/cells/cell%2F1/evacuate', 'invalid_request'],
      ['/cells/..%2Fmarkets%2Fsf/add', 'invalid_request'],
      ['/cells/Cell-9/add', 'invalid_request'],
      ['/cells/..%2Fmarkets%2Fsf/retire', 'invalid_request'],
      ['/cells/..%2Fmarkets%2Fsf/rollback', 'invalid_request'],
    ];
    for (const [path, code] of cases) {
      const res = await post(app, path, { cell: 'cell-1' });
      assert.equal(res.status, 400, path);
      assert.equal((await json<ErrorJson>(res)).error.code, code, path);
    }
    const body = await post(app, '/migrations', { market: '../cells/cell-0', to: 'cell-1' });
    assert.equal(body.status, 400);
    assert.equal((await json<ErrorJson>(body)).error.code, 'invalid_request');
    assert.deepEqual(reads, []);
    assert.deepEqual(f.kv.puts, []);
    assert.deepEqual(f.audit, []);
  });
});
