/** The admin API's reads without Consul: the status summary, the lists, and 404 for what does not exist. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appWith, cell, fakeDeps, json, market } from './fakes.test-helper.js';
import { auditLimit, readRoutes } from './reads.js';

function setup() {
  const f = fakeDeps();
  f.kv.set(f.layout.cellKey('cell-1'), cell('cell-1'));
  f.kv.set(f.layout.cellKey('cell-2'), cell('cell-2', { state: 'draining' }));
  f.kv.set(f.layout.marketKey('sf'), market('cell-1'));
  f.kv.set(f.layout.marketKey('nyc'), market('cell-1', { state: 'frozen', epoch: 2 }));
  f.kv.set(f.layout.marketKey('la'), market('cell-2'));
  return { ...f, app: appWith(f.deps, readRoutes) };
}

describe('admin reads', () => {
  it('/status sums up cells, markets and planes, lists unfinished migrations only, and the running rollout', async () => {
    const t = setup();
    const states = ['planned', 'copying', 'done', 'rolled-back', 'failed', 'flipped'];
    t.migrator.list = async () => states.map((state, i) => ({ market: `m${i}`, state }));
    t.rollouts.list = async () => [{ id: 'r2' }, { id: 'r1' }];
    const status = await json<{ cells: { id: string; markets: number; health: string }[]; [k: string]: unknown }>(
      await t.app.request('/status'),
    );
    assert.deepEqual(
      status.cells.map((c) => [c.id, c.markets, c.health]),
      [
        ['cell-1', 2, 'unhealthy'],
        ['cell-2', 1, 'unhealthy'],
      ],
    );
    assert.deepEqual(status.markets, { total: 3, frozen: 1 });
    assert.deepEqual([status.routers, status.xds], [[], []]);
    assert.deepEqual(status.migrations, [
      { market: 'm0', state: 'planned' },
      { market: 'm1', state: 'copying' },
      { market: 'm5', state: 'flipped' },
    ]);
    assert.deepEqual(status.rollout, { id: 'r2' }, 'no rollout running: the latest');
    t.rollouts.running = () => ({ id: 'r3' });
    assert.deepEqual((await json(await t.app.request('/status'))).rollout, { id: 'r3' });
    t.rollouts.list = async () => [];
    t.rollouts.running = () => undefined;
    assert.equal((await json(await t.app.request('/status'))).rollout, null);
  });

  it('lists cells, markets (sorted), migrations, rollouts and the audit', async () => {
    const t = setup();
    t.migrator.list = async () => [{ market: 'sf' }];
    t.rollouts.list = async () => [{ id: 'r1' }];
    await t.deps.audit.record({ who: 'a', action: 'drain', target: 'cell-2', result: 'ok' });
    const cells = await json<{ cells: { id: string; state: string }[] }>(await t.app.request('/cells'));
    assert.deepEqual(
      cells.cells.map((c) => `${c.id}:${c.state}`),
      ['cell-1:active', 'cell-2:draining'],
    );
    assert.deepEqual(await json(await t.app.request('/markets')), {
      markets: [
        { market: 'la', cell: 'cell-2', state: 'active', epoch: 1 },
        { market: 'nyc', cell: 'cell-1', state: 'frozen', epoch: 2 },
        { market: 'sf', cell: 'cell-1', state: 'active', epoch: 1 },
      ],
    });
    assert.deepEqual(await json(await t.app.request('/migrations')), { migrations: [{ market: 'sf' }] });
    assert.deepEqual(await json(await t.app.request('/rollouts')), { running: null, rollouts: [{ id: 'r1' }] });
    assert.deepEqual(await json(await t.app.request('/audit')), {
      audit: [{ who: 'a', action: 'drain', target: 'cell-2', result: 'ok' }],
    });
  });

  it('answers one migration, rollout or evacuation, and 404 not_found when there is none', async () => {
    const t = setup();
    t.migrator.get = async (m: string) => (m === 'sf' ? { market: 'sf', state: 'copying' } : undefined);
    t.rollouts.get = async (id: string) => (id === 'r1' ? { id: 'r1' } : undefined);
    t.evacuator.get = async (c: string) => (c === 'cell-2' ? { cell: 'cell-2', done: 1 } : undefined);
    assert.deepEqual(await json(await t.app.request('/migrations/sf')), { migration: { market: 'sf', state: 'copying' } });
    assert.deepEqual(await json(await t.app.request('/rollouts/r1')), { rollout: { id: 'r1' } });
    assert.deepEqual(await json(await t.app.request('/cells/cell-2/evacuation')), { evacuation: { cell: 'cell-2', done: 1 } });
    const missing: [string, string][] = [
      ['/migrations/nyc', "no migration of 'nyc'"],
      ['/rollouts/r9', "no rollout 'r9'"],
      ['/cells/cell-1/evacuation', "no evacuation of 'cell-1'"],
    ];
    for (const [path, message] of missing) {
      const res = await t.app.request(path);
      assert.equal(res.status, 404, path);
      assert.deepEqual(await json(res), { error: { code: 'not_found', message } });
    }
  });

  it("bounds /audit's limit: 50 when absent, zero or not a number, at most 500", async () => {
    assert.deepEqual([undefined, '10', '0', 'abc', '499', '500', '501', '100000'].map(auditLimit), [50, 10, 50, 50, 499, 500, 500, 500]);
    const t = setup();
    let asked = 0;
    t.deps.audit.latest = async (limit: number) => {
      asked = limit;
      return [];
    };
    await t.app.request('/audit?limit=7');
    assert.equal(asked, 7);
  });
});
