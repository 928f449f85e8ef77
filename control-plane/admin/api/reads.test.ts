/** The admin API's reads without Consul: the status summary, the lists, and 404 for what does not exist. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appWith, cell, fakeDeps, get, json, market } from './fakes.test-helper.js';
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
      await get(t.app, '/status'),
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
    assert.deepEqual((await json(await get(t.app, '/status'))).rollout, { id: 'r3' });
    t.rollouts.list = async () => [];
    t.rollouts.running = () => undefined;
    assert.equal((await json(await get(t.app, '/status'))).rollout, null);
  });

  it('lists cells, markets (sorted), migrations, rollouts and the audit', async () => {
    const t = setup();
    t.migrator.list = async () => [{ market: 'sf' }];
    t.rollouts.list = async () => [{ id: 'r1' }];
    await t.deps.audit.record({ who: 'a', action: 'drain', target: 'cell-2', result: 'ok' });
    const cells = await json<{ cells: { id: string; state: string }[] }>(await get(t.app, '/cells'));
    assert.deepEqual(
      cells.cells.map((c) => `${c.id}:${c.state}`),
      ['cell-1:active', 'cell-2:draining'],
    );
    assert.deepEqual(await json(await get(t.app, '/markets')), {
      markets: [
        { market: 'la', cell: 'cell-2', state: 'active', epoch: 1 },
        { market: 'nyc', cell: 'cell-1', state: 'frozen', epoch: 2 },
        { market: 'sf', cell: 'cell-1', state: 'active', epoch: 1 },
      ],
    });
    assert.deepEqual(await json(await get(t.app, '/migrations')), { migrations: [{ market: 'sf' }] });
    assert.deepEqual(await json(await get(t.app, '/rollouts')), { running: null, rollouts: [{ id: 'r1' }] });
    assert.deepEqual(await json(await get(t.app, '/audit')), {
      audit: [{ who: 'a', action: 'drain', target: 'cell-2', result: 'ok' }],
    });
  });

  it('answers one migration, rollout or evacuation, and 404 not_found when there is none', async () => {
    const t = setup();
    t.migrator.get = async (m: string) => (m === 'sf' ? { market: 'sf', state: 'copying' } : undefined);
    t.rollouts.get = async (id: string) => (id === 'r1' ? { id: 'r1' } : undefined);
    t.evacuator.get = async (c: string) => (c === 'cell-2' ? { cell: 'cell-2', done: 1 } : undefined);
    assert.deepEqual(await json(await get(t.app, '/migrations/sf')), { migration: { market: 'sf', state: 'copying' } });
    assert.deepEqual(await json(await get(t.app, '/rollouts/r1')), { rollout: { id: 'r1' } });
    assert.deepEqual(await json(await get(t.app, '/cells/cell-2/evacuation')), { evacuation: { cell: 'cell-2', done: 1 } });
    const missing: [string, string][] = [
      ['/migrations/nyc', "no migration of 'nyc'"],
      ['/rollouts/r9', "no rollout 'r9'"],
      ['/cells/cell-1/evacuation', "no evacuation of 'cell-1'"],
    ];
    for (const [path, message] of missing) {
      const res = await get(t.app, path);
      assert.equal(res.status, 404, path);
      assert.deepEqual(await json(res), { error: { code: 'not_found', message } });
    }
  });

  it("validates /audit's limit: 50 when absent, an integer from 1 to 500, else 400 invalid_request and no read", async () => {
    assert.deepEqual([undefined, '1', '10', '499', '500'].map(auditLimit), [50, 1, 10, 499, 500]);
    for (const bad of ['0', '-5', 'abc', '501', '100000', '1.5', '', ' 7', '0x10']) {
      assert.throws(() => auditLimit(bad), /limit must be an integer from 1 to 500/, bad);
    }
    const t = setup();
    const asked: number[] = [];
    t.deps.audit.latest = async (limit: number) => {
      asked.push(limit);
      return [];
    };
    await get(t.app, '/audit?limit=7');
    assert.deepEqual(asked, [7]);
    for (const q of ['-5', '0', 'lots', '9999']) {
      const res = await get(t.app, `/audit?limit=${q}`);
      assert.equal(res.status, 400, q);
      assert.deepEqual(await json(res), { error: { code: 'invalid_request', message: 'limit must be an integer from 1 to 500' } });
    }
    assert.deepEqual(asked, [7], 'a refused limit reads nothing');
  });

  it('refuses a path ID that is not one (400 invalid_market / invalid_request) before anything is read', async () => {
    const t = setup();
    const read: string[] = [];
    t.migrator.get = async (m: string) => void read.push(`migration ${m}`);
    t.rollouts.get = async (id: string) => void read.push(`rollout ${id}`);
    t.evacuator.get = async (c: string) => void read.push(`evacuation ${c}`);
    const cases: [string, string][] = [
      ['/migrations/..%2Fcells%2Fcell-0', 'invalid_market'],
      ['/migrations/..%2F', 'invalid_market'],
      ['/migrations/SF', 'invalid_market'],
      ['/migrations/sf%00', 'invalid_market'],
      ['/rollouts/..%2F..%2Fcells%2Fcell-1', 'invalid_request'],
      ['/rollouts/a%2Fb', 'invalid_request'],
      ['/cells/..%2Fmarkets%2Fsf/evacuation', 'invalid_request'],
      ['/cells/Cell_1/evacuation', 'invalid_request'],
    ];
    for (const [path, code] of cases) {
      const res = await get(t.app, path);
      assert.equal(res.status, 400, path);
      assert.equal((await json<{ error: { code: string } }>(res)).error.code, code, path);
    }
    assert.deepEqual(read, []);
  });
});
