/** The audit wrapper of mutations without Consul: what it records on success, refusal and failure. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono, type Context } from 'hono';
import { HttpError } from '../../../shared/errors.js';
import { audited, type Outcome } from './audited.js';
import { fakeDeps } from './fakes.test-helper.js';

/** Runs `act` through `audited` inside a request (operator header when `operator`); answers the records and the outcome. */
async function run(act: () => Promise<Outcome>, operator?: string) {
  const f = fakeDeps();
  let got: { out?: unknown; err?: unknown } = {};
  const app = new Hono();
  app.post('/', async (c: Context) => {
    try {
      got = { out: await audited(f.deps, c, 'drain', 'cell-1', { p: 1 }, { state: 'active' }, act) };
    } catch (err) {
      got = { err };
    }
    return c.body(null, 204);
  });
  await app.request('/', { method: 'POST', headers: operator ? { 'x-cellsim-operator': operator } : {} });
  return { audit: f.audit, ...got };
}

describe('audited', () => {
  it('records who, what, before, after and the result (default ok), and answers the out', async () => {
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

  it("records the act's own result, and `api` when no operator is named", async () => {
    const r = await run(async () => ({ result: 'dry-run', out: { dryRun: true } }));
    assert.equal(r.audit[0]?.who, 'api');
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
