import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Hono } from 'hono';
import { appWith, cell, fakeDeps, get, json, market, post } from './fakes.test-helper.js';
import { marketRoutes } from './markets.js';
import { placementRoutes } from './placement.js';
import type { AdminDeps } from './deps.js';

type ErrorJson = { error: { code: string } };

/** cell-1 carries 40 req/s over two markets, cell-2 4 req/s, cell-0 (canary, capacity 2) 1. */
function setup() {
  const f = fakeDeps();
  f.kv.set(f.layout.cellKey('cell-0'), cell('cell-0', { canary: true, capacity: 2 }));
  f.kv.set(f.layout.cellKey('cell-1'), cell('cell-1'));
  f.kv.set(f.layout.cellKey('cell-2'), cell('cell-2'));
  for (const [m, c] of [
    ['hot', 'cell-1'],
    ['warm', 'cell-1'],
    ['cool', 'cell-2'],
    ['tiny', 'cell-0'],
  ])
    f.kv.set(f.layout.marketKey(m!), market(c!));
  const windows: number[] = [];
  f.placement.measure = async (windowMs) => {
    windows.push(windowMs);
    const markets = [
      { market: 'hot', cell: 'cell-1', rps: 30 },
      { market: 'warm', cell: 'cell-1', rps: 10 },
      { market: 'cool', cell: 'cell-2', rps: 4 },
      { market: 'tiny', cell: 'cell-0', rps: 1 },
    ];
    return { windowMs, at: 'now', cells: [], markets };
  };
  const app = appWith(f.deps, (a: Hono, d: AdminDeps) => (placementRoutes(a, d), marketRoutes(a, d)));
  return { f, app, windows };
}

describe('admin API: placement by load', () => {
  it('plans a rebalance with the load before and after, audited; moves nothing itself', async () => {
    const { f, app, windows } = setup();
    const res = await post(app, '/rebalance', { dryRun: true, windowMs: 1000 });
    assert.equal(res.status, 200);
    const out = await json<{
      plan: { market: string; from: string; to: string }[];
      before: { cell: string; rps: number }[];
      after: { cell: string; rps: number }[];
    }>(res);
    assert.deepEqual(out.plan, [{ market: 'warm', from: 'cell-1', to: 'cell-2', rps: 10 }]);
    assert.deepEqual(
      out.after.map((r) => `${r.cell}:${r.rps}`),
      ['cell-0:1', 'cell-1:30', 'cell-2:14'],
    );
    assert.deepEqual(windows, [1000]);
    assert.deepEqual(
      f.audit.map((a) => [a.action, a.result]),
      [['rebalance (dry run)', 'dry-run']],
    );
    assert.equal(f.kv.puts.length, 0);
  });

  it('refuses a bad rebalance body or load window (400 invalid_request)', async () => {
    const { app } = setup();
    for (const body of [{ maxMoves: 0 }, { windowMs: 10 }, { tolerance: -1 }, { cells: ['cell-1'] }]) {
      const res = await post(app, '/rebalance', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal((await json<ErrorJson>(res)).error.code, 'invalid_request');
    }
    assert.equal((await get(app, '/load?windowMs=5')).status, 400);
    assert.equal((await get(app, '/load?windowMs=1000')).status, 200);
  });

  it('assigns a market without a cell to the cell least loaded for its capacity, not the canary', async () => {
    const { f, app } = setup();
    const created = await post(app, '/markets/newtown/assign', {});
    assert.equal(created.status, 200);
    assert.equal((f.kv.value(f.layout.marketKey('newtown')) as { cell: string }).cell, 'cell-2');
    let started: unknown[] = [];
    f.migrator.start = async (...a: unknown[]) => ((started = a), { id: 'm1', to: a[1] });
    const moved = await post(app, '/markets/hot/assign', {});
    assert.equal(moved.status, 202);
    assert.deepEqual(started.slice(0, 2), ['hot', 'cell-2']);
  });
});
