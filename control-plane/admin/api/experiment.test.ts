/** A market's A/B experiment without Consul: the CAS write, the stop, the dry run, and every refusal writing nothing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appWith, cell, fakeDeps, get, json, market, post } from './fakes.test-helper.js';
import { experimentRoutes } from './experiment.js';

function setup() {
  const f = fakeDeps();
  f.kv.set(f.layout.cellKey('cell-1'), cell('cell-1', { activeColor: 'blue' }));
  f.kv.set(f.layout.cellKey('cell-2'), cell('cell-2'));
  f.kv.set(f.layout.marketKey('m-1'), market('cell-1'));
  f.kv.set(f.layout.marketKey('m-2'), market('cell-2'));
  f.kv.set(f.layout.marketKey('m-3'), market('cell-1', { state: 'frozen' }));
  return { ...f, app: appWith(f.deps, experimentRoutes) };
}
const SPEC = { header: 'x-customer-id', color: 'green', percent: 10 } as const;

describe('admin market experiment', () => {
  it('starts with a CAS write on the other color, audited; reads it; stops it; a stop of none writes nothing', async () => {
    const t = setup();
    const index = t.kv.items.get('t/markets/m-1')?.modifyIndex;
    const res = await post(t.app, '/markets/m-1/experiment', { header: 'x-customer-id', percent: 10 });
    assert.equal(res.status, 200);
    const after = market('cell-1', { experiment: SPEC });
    assert.deepEqual(await json(res), { market: 'm-1', record: after });
    assert.deepEqual(t.kv.puts, [{ key: 't/markets/m-1', value: after, cas: index, ok: true }]);
    assert.deepEqual(t.audit[0], {
      who: 'alice',
      action: 'experiment start',
      target: 'm-1',
      params: { header: 'x-customer-id', percent: 10, color: null },
      before: market('cell-1'),
      after,
      result: 'ok',
    });
    assert.deepEqual(await json(await get(t.app, '/markets/m-1/experiment')), {
      market: 'm-1',
      cell: 'cell-1',
      activeColor: 'blue',
      experiment: SPEC,
      live: true,
    });
    const stopped = await post(t.app, '/markets/m-1/experiment/stop', {});
    assert.deepEqual(await json(stopped), { market: 'm-1', record: market('cell-1') });
    assert.equal(t.audit[1]?.action, 'experiment stop');
    const again = await post(t.app, '/markets/m-1/experiment/stop', {});
    assert.deepEqual(await json(again), { market: 'm-1', record: market('cell-1'), unchanged: true });
    assert.equal(t.kv.puts.length, 2);
  });

  it('a dry run writes nothing and answers the record it would write', async () => {
    const t = setup();
    const res = await post(t.app, '/markets/m-1/experiment', { header: 'x-customer-id', percent: 10, dryRun: true });
    assert.deepEqual(await json(res), { dryRun: true, market: 'm-1', record: market('cell-1', { experiment: SPEC }) });
    assert.equal(t.kv.puts.length, 0);
    assert.equal(t.audit[0]?.result, 'dry-run');
  });

  it('refuses bad input in the contract shape and writes nothing', async () => {
    const t = setup();
    const cases: [string, unknown, number, string][] = [
      ['/markets/m-1/experiment', { header: 'x-market-id', percent: 10 }, 400, 'invalid_request'],
      ['/markets/m-1/experiment', { header: 'X-Customer', percent: 10 }, 400, 'invalid_request'],
      ['/markets/m-1/experiment', { header: 'x-customer-id', percent: 101 }, 400, 'invalid_request'],
      ['/markets/m-1/experiment', { header: 'x-customer-id', percent: 10, color: 'blue' }, 400, 'invalid_request'],
      ['/markets/m-1/experiment', { header: 'x-customer-id', percent: 10, extra: 1 }, 400, 'invalid_request'],
      ['/markets/M_1/experiment', { header: 'x-customer-id', percent: 10 }, 400, 'invalid_market'],
      ['/markets/m-9/experiment', { header: 'x-customer-id', percent: 10 }, 404, 'not_found'],
      ['/markets/m-2/experiment', { header: 'x-customer-id', percent: 10 }, 409, 'conflict'],
      ['/markets/m-3/experiment', { header: 'x-customer-id', percent: 10 }, 409, 'conflict'],
    ];
    for (const [path, b, status, code] of cases) {
      const res = await post(t.app, path, b);
      assert.equal(res.status, status, `${path} ${JSON.stringify(b)}`);
      assert.equal((await json<{ error: { code: string } }>(res)).error.code, code, `${path} ${JSON.stringify(b)}`);
    }
    assert.equal(t.kv.puts.length, 0);
  });
});
