/** The admin API's guards without Consul: the token check on mutations, and the error mapping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from '../../../shared/errors.js';
import { adminRoutes } from '../routes.js';
import { TOKEN, appWith, fakeDeps, json, post } from './fakes.test-helper.js';
import { sameToken } from './guards.js';

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
    });

  it('lets reads through without a token and a mutation with the right one', async () => {
    const app = routes(fakeDeps().deps);
    assert.deepEqual(await json(await app.request('/read')), { read: true });
    assert.equal((await app.request('/read', { method: 'HEAD' })).status, 200);
    const res = await post(app, '/write', {});
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { wrote: true });
  });

  it('answers 401 unauthorized to a mutation without a configured token, without a bearer token, or with a wrong one', async () => {
    const cases: [string | undefined, Record<string, string>, RegExp][] = [
      [undefined, { authorization: `Bearer ${TOKEN}` }, /no admin token configured \(--admin-token\)/],
      [TOKEN, {}, /missing bearer token/],
      [TOKEN, { authorization: `Basic ${TOKEN}` }, /missing bearer token/],
      [TOKEN, { authorization: 'Bearer ' }, /missing bearer token/],
      [TOKEN, { authorization: 'Bearer test-tokeN' }, /wrong admin token/],
      [TOKEN, { authorization: `Bearer ${TOKEN}x` }, /wrong admin token/],
    ];
    for (const [token, headers, re] of cases) {
      const { deps } = fakeDeps();
      deps.token = token;
      const res = await routes(deps).request('/write', { method: 'POST', headers });
      const body = await json<ErrorJson>(res);
      assert.equal(res.status, 401, JSON.stringify({ token, headers }));
      assert.equal(body.error.code, 'unauthorized');
      assert.match(body.error.message, re);
    }
  });

  it('answers an HttpError with its status, code and headers, and anything else as a logged 500 internal', async () => {
    const f = fakeDeps();
    const app = routes(f.deps);
    const refused = await post(app, '/refuse', {});
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '3');
    assert.deepEqual(await json(refused), { error: { code: 'not_ready', message: 'not yet' } });
    assert.equal(f.logged.errors.length, 0);
    const crashed = await post(app, '/crash', {});
    assert.equal(crashed.status, 500);
    assert.deepEqual(await json(crashed), { error: { code: 'internal', message: 'disk on fire' } });
    assert.deepEqual(f.logged.errors, [{ obj: { err: 'disk on fire', path: '/crash' }, msg: 'admin request failed' }]);
  });

  it('compares tokens exactly, also of different lengths', () => {
    assert.equal(sameToken('abc', 'abc'), true);
    assert.equal(sameToken('abd', 'abc'), false);
    assert.equal(sameToken('ab', 'abc'), false);
    assert.equal(sameToken('', 'abc'), false);
  });

  it('puts every mutation of adminRoutes behind the token: nothing is called, written or audited', async () => {
    const f = fakeDeps();
    const app = adminRoutes(f.deps);
    const paths = [
      '/migrations',
      '/migrations/sf/abort',
      '/markets/sf/assign',
      '/cells/cell-1/drain',
      '/cells/cell-1/activate',
      '/cells/cell-1/evacuate',
      '/rollouts',
      '/rollouts/abort',
      '/cells/cell-1/rollback',
    ];
    for (const path of paths) {
      const res = await post(app, path, { market: 'sf', to: 'cell-2', cell: 'cell-2', version: 'v2' }, null);
      assert.equal(res.status, 401, path);
      assert.equal((await json<ErrorJson>(res)).error.code, 'unauthorized');
    }
    assert.deepEqual(f.kv.puts, []);
    assert.deepEqual(f.audit, []);
  });
});
