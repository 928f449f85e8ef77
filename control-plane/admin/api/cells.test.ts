/** Drain, activate and evacuate without Consul: the CAS write of the cell record, the evacuation's refusals and start. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NoCapacityError } from '../../../shared/errors.js';
import { cellRoutes } from './cells.js';
import { INTERNAL_MESSAGE } from './guards.js';
import { appWith, cell, fakeDeps, json, post } from './fakes.test-helper.js';

function setup() {
  const f = fakeDeps();
  f.kv.set(f.layout.cellKey('cell-1'), cell('cell-1'));
  f.kv.set(f.layout.cellKey('cell-2'), cell('cell-2', { state: 'draining' }));
  return { ...f, app: appWith(f.deps, cellRoutes) };
}

describe('admin cell actions', () => {
  it('drains and activates a cell with a CAS write, audited before and after', async () => {
    const t = setup();
    const index = t.kv.items.get('t/cells/cell-1')?.modifyIndex;
    const res = await post(t.app, '/cells/cell-1/drain', {});
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { cell: cell('cell-1', { state: 'draining' }) });
    assert.deepEqual(t.kv.puts, [{ key: 't/cells/cell-1', value: cell('cell-1', { state: 'draining' }), cas: index, ok: true }]);
    assert.deepEqual(t.audit[0], {
      who: 'alice',
      action: 'drain',
      target: 'cell-1',
      params: {},
      before: cell('cell-1'),
      after: cell('cell-1', { state: 'draining' }),
      result: 'ok',
    });
    assert.equal((await post(t.app, '/cells/cell-2/activate', {})).status, 200);
    assert.deepEqual(t.kv.value('t/cells/cell-2'), cell('cell-2'));
    assert.equal(t.audit[1]?.action, 'activate');
  });

  it('answers a dry run with the new record and writes nothing; 409 when the record changed meanwhile', async () => {
    const t = setup();
    const dry = await post(t.app, '/cells/cell-1/drain', { dryRun: true });
    assert.deepEqual(await json(dry), { dryRun: true, cell: cell('cell-1', { state: 'draining' }) });
    assert.equal(t.audit[0]?.action, 'drain (dry run)');
    assert.deepEqual(t.kv.puts, []);
    const read = t.kv.getJson.bind(t.kv);
    t.kv.getJson = async (schema, key) => {
      const r = await read(schema, key);
      t.kv.set(key, r?.value); // another writer right after our read
      return r;
    };
    const raced = await post(t.app, '/cells/cell-1/drain', {});
    assert.equal(raced.status, 409);
    assert.deepEqual(await json(raced), { error: { code: 'conflict', message: 'cell cell-1 changed meanwhile; retry' } });
    assert.equal(t.audit[1]?.result, 'refused');
  });

  it('evacuates: an active cell is set draining first, the job starts with concurrency 2 by default (202)', async () => {
    const t = setup();
    const plan = [{ market: 'sf', to: 'cell-2' }];
    const started: unknown[][] = [];
    t.evacuator.plan = async () => plan;
    t.evacuator.start = async (...args: unknown[]) => {
      started.push(args);
      return { cell: 'cell-1', total: 1 };
    };
    const res = await post(t.app, '/cells/cell-1/evacuate', {});
    assert.equal(res.status, 202);
    assert.deepEqual(await json(res), { evacuation: { cell: 'cell-1', total: 1 }, plan });
    assert.deepEqual(t.kv.value('t/cells/cell-1'), cell('cell-1', { state: 'draining' }));
    assert.deepEqual(started, [['cell-1', plan, 2, 'alice']]);
    assert.deepEqual(t.audit[0], {
      who: 'alice',
      action: 'evacuate',
      target: 'cell-1',
      params: { concurrency: undefined },
      before: cell('cell-1'),
      after: { state: 'draining', markets: 1 },
      result: 'started',
    });
    await post(t.app, '/cells/cell-2/evacuate', { concurrency: 5 });
    assert.deepEqual(started[1], ['cell-2', plan, 5, 'alice']);
    assert.equal(t.kv.puts.length, 1, 'a draining cell is not written again');
  });

  it('answers an evacuation dry run with the plan (200) and writes nothing', async () => {
    const t = setup();
    t.evacuator.plan = async () => [{ market: 'sf', to: 'cell-2' }];
    const res = await post(t.app, '/cells/cell-1/evacuate', { dryRun: true });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { dryRun: true, plan: [{ market: 'sf', to: 'cell-2' }] });
    assert.deepEqual(t.kv.puts, []);
    assert.equal(t.audit[0]?.result, 'dry-run');
  });

  it('refuses an evacuation already running or without room (409), and answers 500 to any other failure', async () => {
    const t = setup();
    t.evacuator.busy = async () => true;
    const busy = await post(t.app, '/cells/cell-1/evacuate', {});
    assert.equal(busy.status, 409);
    assert.deepEqual(await json(busy), { error: { code: 'conflict', message: 'cell cell-1 is already being evacuated' } });
    t.evacuator.busy = async () => false;
    t.evacuator.plan = async () => {
      throw new NoCapacityError('sf');
    };
    const full = await post(t.app, '/cells/cell-1/evacuate', {});
    assert.equal(full.status, 409);
    assert.deepEqual(await json(full), { error: { code: 'conflict', message: 'no active cell has room for sf' } });
    t.evacuator.plan = async () => {
      throw new Error('consul unreachable');
    };
    const down = await post(t.app, '/cells/cell-1/evacuate', {});
    assert.equal(down.status, 500);
    assert.deepEqual(await json(down), { error: { code: 'internal', message: INTERNAL_MESSAGE } });
    assert.deepEqual(
      t.audit.map((a) => a.result),
      ['refused', 'refused', 'failed'],
    );
    assert.deepEqual(t.kv.puts, []);
    assert.equal((await post(t.app, '/cells/cell-9/evacuate', {})).status, 404);
  });
});
