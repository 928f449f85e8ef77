import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appWith, cell, fakeDeps, json, market, post } from './fakes.test-helper.js';
import { lifecycleRoutes } from './lifecycle.js';

type ErrorJson = { error: { code: string; message: string; details?: unknown } };

function setup() {
  const f = fakeDeps();
  f.kv.set(f.layout.cellKey('cell-0'), cell('cell-0', { canary: true, capacity: 2 }));
  f.kv.set(f.layout.cellKey('cell-1'), cell('cell-1', { global: true }));
  f.kv.set(f.layout.cellKey('cell-3'), cell('cell-3'));
  f.kv.set(f.layout.marketKey('sf'), market('cell-3'));
  const app = appWith(f.deps, lifecycleRoutes);
  return { f, app };
}

describe('admin API: adding a cell', () => {
  it('answers the record it would write on a dry run, writes nothing, and audits the dry run', async () => {
    const { f, app } = setup();
    f.lifecycle.planAdd = async (id: string, o: { capacity?: number }) => cell(id, { capacity: o.capacity ?? 40 });
    const puts = f.kv.puts.length;
    const res = await post(app, '/cells/cell-9/add', { capacity: 12, dryRun: true });
    assert.equal(res.status, 200);
    const out = await json<{ dryRun: boolean; plan: { record: { id: string; capacity: number }; supervised: boolean } }>(res);
    assert.deepEqual([out.dryRun, out.plan.record.id, out.plan.record.capacity, out.plan.supervised], [true, 'cell-9', 12, true]);
    assert.equal(f.kv.puts.length, puts);
    assert.deepEqual(
      f.audit.map((a) => [a.action, a.target, a.result, a.who]),
      [['add (dry run)', 'cell-9', 'dry-run', 'alice']],
    );
  });

  it('adds the planned cell and audits what it wrote', async () => {
    const { f, app } = setup();
    const added: unknown[] = [];
    f.lifecycle.planAdd = async (id: string) => cell(id);
    f.lifecycle.add = async (record: unknown) => (added.push(record), { record, started: true, passingAfterMs: 1234 });
    const res = await post(app, '/cells/cell-9/add', {});
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { record: cell('cell-9'), started: true, passingAfterMs: 1234 });
    assert.deepEqual(added, [cell('cell-9')]);
    assert.deepEqual(f.audit[0]?.after, cell('cell-9'));
  });

  it('refuses a bad body (400 invalid_request) before planning, writing or auditing anything', async () => {
    const { f, app } = setup();
    for (const body of [{ capacity: 0 }, { capacity: 1.5 }, { version: '../v1' }, { color: 'green' }, { dryRun: 'yes' }]) {
      const res = await post(app, '/cells/cell-9/add', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal((await json<ErrorJson>(res)).error.code, 'invalid_request');
    }
    assert.deepEqual(f.audit, []);
  });
});

describe('admin API: retiring a cell', () => {
  it('refuses while the cell owns markets (409 cell_not_empty, the markets in details), audited as refused', async () => {
    const { f, app } = setup();
    f.lifecycle.checkRetire = async () => ({ markets: ['sf'], busy: [] });
    const res = await post(app, '/cells/cell-3/retire', {});
    assert.equal(res.status, 409);
    const e = (await json<ErrorJson>(res)).error;
    assert.equal(e.code, 'cell_not_empty');
    assert.deepEqual(e.details, { markets: ['sf'] });
    assert.deepEqual(
      f.audit.map((a) => [a.action, a.result]),
      [['retire', 'refused']],
    );
  });

  it('with evacuate, drains the cell and starts its evacuation first (202); the dry run only plans it', async () => {
    const { f, app } = setup();
    f.lifecycle.checkRetire = async () => ({ markets: ['sf'], busy: [] });
    f.evacuator.plan = async () => [{ market: 'sf', to: 'cell-1' }];
    const started: unknown[] = [];
    f.evacuator.start = async (c: string, plan: unknown, n: number) => (started.push([c, plan, n]), { cell: c, state: 'running' });
    const dry = await post(app, '/cells/cell-3/retire', { evacuate: true, dryRun: true });
    assert.equal(dry.status, 200);
    assert.deepEqual((await json(dry)).plan, { evacuate: [{ market: 'sf', to: 'cell-1' }], then: 'retire' });
    assert.deepEqual(started, []);
    const res = await post(app, '/cells/cell-3/retire', { evacuate: true, concurrency: 3 });
    assert.equal(res.status, 202);
    assert.equal((await json(res)).retired, false);
    assert.deepEqual(started, [['cell-3', [{ market: 'sf', to: 'cell-1' }], 3]]);
    assert.equal((f.kv.value(f.layout.cellKey('cell-3')) as { state: string }).state, 'draining');
  });

  it('refuses while work involving the cell runs (409 cell_busy)', async () => {
    const { f, app } = setup();
    f.lifecycle.checkRetire = async () => ({ markets: [], busy: ['migration of sf (cleanup-wait)'] });
    const res = await post(app, '/cells/cell-3/retire', {});
    assert.equal(res.status, 409);
    assert.equal((await json<ErrorJson>(res)).error.code, 'cell_busy');
  });

  it('retires an empty cell (the dry run changes nothing), and answers 404 for an unknown one', async () => {
    const { f, app } = setup();
    f.lifecycle.checkRetire = async () => ({ markets: [], busy: [] });
    const retired: string[] = [];
    f.lifecycle.retire = async (c: { id: string }) => (retired.push(c.id), { stopped: true, deregistered: ['x'] });
    assert.equal((await post(app, '/cells/cell-3/retire', { dryRun: true })).status, 200);
    assert.deepEqual(retired, []);
    const res = await post(app, '/cells/cell-3/retire', {});
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { retired: true, cell: 'cell-3', stopped: true, deregistered: ['x'] });
    assert.deepEqual(retired, ['cell-3']);
    const unknown = await post(app, '/cells/cell-8/retire', {});
    assert.equal(unknown.status, 404);
  });
});
