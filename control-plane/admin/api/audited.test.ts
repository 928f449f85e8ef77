/** The audit wrapper of mutations without Consul: what it records on success, refusal and failure. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono, type Context } from 'hono';
import { HttpError } from '../../../shared/errors.js';
import { audited, type Outcome } from './audited.js';
import { fakeDeps } from './fakes.test-helper.js';

/** Runs `act` through `audited` inside a request made with token `caller` (and an `x-cellsim-operator` header when `claim`). */
async function run(act: () => Promise<Outcome>, caller = 'ops-token', claim?: string) {
  const f = fakeDeps();
  let got: { out?: unknown; err?: unknown } = {};
  const app = new Hono();
  app.use('*', async (c, next) => {
    c.set('caller', { name: caller, scope: 'operator' });
    await next();
  });
  app.post('/', async (c: Context) => {
    try {
      got = { out: await audited(f.deps, c, 'drain', 'cell-1', { p: 1 }, { state: 'active' }, act) };
    } catch (err) {
      got = { err };
    }
    return c.body(null, 204);
  });
  await app.request('/', { method: 'POST', headers: claim ? { 'x-cellsim-operator': claim } : {} });
  return { audit: f.audit, ...got };
}

describe('audited', () => {
  it("records who (the token's name), what, before, after and the result (default ok), and answers the out", async () => {
    const r = await run(async () => ({ after: { state: 'draining' }, out: { cell: 'x' } }), 'alice');
    assert.deepEqual(r.out, { cell: 'x' });
    assert.deepEqual(r.audit, [
      {
        who: 'alice',
        action: 'drain',
        target: 'cell-1',
        params: { p: 1 },
        before: { state: 'active' },
        after: { state: 'draining' },
        result: 'ok',
      },
    ]);
  });

  it("records the act's own result; the x-cellsim-operator header only as `claimed`, never as who", async () => {
    const r = await run(async () => ({ result: 'dry-run', out: { dryRun: true } }), 'read-write', 'root@elsewhere');
    assert.equal(r.audit[0]?.who, 'read-write');
    assert.equal(r.audit[0]?.claimed, 'root@elsewhere');
    assert.equal(r.audit[0]?.result, 'dry-run');
    assert.equal(r.audit[0]?.after, undefined);
  });

  it('records an HttpError below 500 as refused and anything else as failed, with the message, and throws it on', async () => {
    const cases: [Error, 'refused' | 'failed'][] = [
      [new HttpError('conflict', 'busy'), 'refused'],
      [new HttpError('not_found', 'gone'), 'refused'],
      [new HttpError('overloaded', 'later'), 'failed'],
      [new Error('consul down'), 'failed'],
    ];
    for (const [thrown, result] of cases) {
      const r = await run(async () => {
        throw thrown;
      }, 'bob');
      assert.equal(r.err, thrown);
      assert.deepEqual(r.audit, [
        { who: 'bob', action: 'drain', target: 'cell-1', params: { p: 1 }, before: { state: 'active' }, result, error: thrown.message },
      ]);
    }
  });
});
