/** `POST /markets/:market/assign` without Consul: create, migrate, unchanged, dry runs and refusals, with their audit. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appWith, cell, fakeDeps, json, market, post } from './fakes.test-helper.js';
import { createMarketRecord, marketRoutes } from './markets.js';

function setup() {
  const f = fakeDeps();
  f.kv.set(f.layout.cellKey('cell-1'), cell('cell-1'));
  f.kv.set(f.layout.cellKey('cell-2'), cell('cell-2'));
  f.kv.set(f.layout.cellKey('cell-3'), cell('cell-3', { state: 'draining' }));
  f.kv.set(f.layout.marketKey('sf'), market('cell-1'));
  return { ...f, app: appWith(f.deps, marketRoutes) };
}

describe('admin assign', () => {
  it('creates a new market on an active cell (create-only) and audits it with before null', async () => {
    const t = setup();
    const res = await post(t.app, '/markets/denver/assign', { cell: 'cell-2' });
    assert.equal(res.status, 200);
    const record = { cell: 'cell-2', state: 'active', epoch: 1 };
    assert.deepEqual(await json(res), { market: 'denver', record });
    assert.deepEqual(t.kv.puts, [{ key: 't/markets/denver', value: record, cas: 0, ok: true }]);
    assert.deepEqual(t.audit, [
      { who: 'alice', action: 'assign', target: 'denver', params: { cell: 'cell-2' }, before: null, after: record, result: 'ok' },
    ]);
  });

  it('plans a new market on a dry run and writes nothing', async () => {
    const t = setup();
    const res = await post(t.app, '/markets/denver/assign', { cell: 'cell-2', dryRun: true });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { dryRun: true, plan: { market: 'denver', create: { cell: 'cell-2', state: 'active', epoch: 1 } } });
    assert.deepEqual(t.kv.puts, []);
    assert.equal(t.audit[0]?.action, 'assign (dry run)');
    assert.equal(t.audit[0]?.result, 'dry-run');
  });

  it('answers 409 conflict when the market was created meanwhile, audited as refused', async () => {
    const t = setup();
    const read = t.kv.getJson.bind(t.kv);
    t.kv.getJson = async (schema, key) => {
      const r = await read(schema, key);
      if (key === t.layout.marketKey('denver')) t.kv.set(key, market('cell-1')); // another writer right after our read
      return r;
    };
    const res = await post(t.app, '/markets/denver/assign', { cell: 'cell-2' });
    assert.equal(res.status, 409);
    assert.deepEqual(await json(res), { error: { code: 'conflict', message: 'market denver was created meanwhile; retry' } });
    assert.equal(t.audit[0]?.result, 'refused');
  });

  it('migrates an existing market assigned elsewhere (202), plans it on a dry run, and leaves it on its own cell', async () => {
    const t = setup();
    const started: string[][] = [];
    t.migrator.start = async (m: string, to: string, by: string) => {
      started.push([m, to, by]);
      return { id: 'mig-1', market: m };
    };
    t.migrator.plan = async (m: string, to: string) => ({ from: 'cell-1', to, market: m });
    const moved = await post(t.app, '/markets/sf/assign', { cell: 'cell-2' });
    assert.equal(moved.status, 202);
    assert.deepEqual(await json(moved), { migration: { id: 'mig-1', market: 'sf' } });
    assert.deepEqual(started, [['sf', 'cell-2', 'alice']]);
    assert.deepEqual(t.audit[0], {
      who: 'alice',
      action: 'assign',
      target: 'sf',
      params: { cell: 'cell-2' },
      before: market('cell-1'),
      after: { migration: 'mig-1' },
      result: 'started',
    });
    const planned = await post(t.app, '/markets/sf/assign', { cell: 'cell-2', dryRun: true });
    assert.equal(planned.status, 200);
    assert.deepEqual(await json(planned), { dryRun: true, plan: { from: 'cell-1', to: 'cell-2', market: 'sf' } });
    const same = await post(t.app, '/markets/sf/assign', { cell: 'cell-1' });
    assert.equal(same.status, 200);
    assert.deepEqual(await json(same), { market: 'sf', unchanged: true, record: market('cell-1') });
    assert.equal(t.audit[2]?.result, 'ok');
    assert.deepEqual(t.kv.puts, []);
  });

  it('refuses a bad market id (before any audit), an unknown cell, and a cell that takes no new markets', async () => {
    const t = setup();
    const bad = await post(t.app, '/markets/Bad_Id/assign', { cell: 'cell-2' });
    assert.equal(bad.status, 400);
    assert.deepEqual(await json(bad), {
      error: { code: 'invalid_market', message: "'Bad_Id' is not a market id (^[a-z0-9][a-z0-9-]{0,62}$)" },
    });
    assert.equal(t.audit.length, 0);
    const unknown = await post(t.app, '/markets/denver/assign', { cell: 'cell-9' });
    assert.equal(unknown.status, 404);
    assert.deepEqual(await json(unknown), { error: { code: 'not_found', message: "unknown cell 'cell-9'" } });
    const draining = await post(t.app, '/markets/denver/assign', { cell: 'cell-3' });
    assert.equal(draining.status, 409);
    assert.deepEqual(await json(draining), {
      error: { code: 'conflict', message: 'cell cell-3 is draining: it takes no new markets' },
    });
    assert.deepEqual(
      t.audit.map((a) => [a.result, a.error]),
      [
        ['refused', "unknown cell 'cell-9'"],
        ['refused', 'cell cell-3 is draining: it takes no new markets'],
      ],
    );
    // no cell is a choice by load (placement.test.ts); a cell that is no cell id is refused
    const badCell = await post(t.app, '/markets/denver/assign', { cell: 'Cell 2' });
    assert.equal(badCell.status, 400);
    assert.equal((await json<{ error: { code: string } }>(badCell)).error.code, 'invalid_request');
    assert.deepEqual(t.kv.puts, []);
  });

  it('createMarketRecord writes only when the market does not exist yet', async () => {
    const t = setup();
    assert.equal(await createMarketRecord(t.deps, 'denver', market('cell-2')), true);
    assert.equal(await createMarketRecord(t.deps, 'denver', market('cell-1')), false);
    assert.deepEqual(t.kv.value(t.layout.marketKey('denver')), market('cell-2'));
  });
});
