/**
 * The last good routing view on disk: round trip and validation, then with real Consul, Envoy
 * and upstream cells: a control plane restarted while Consul is down serves the view from
 * disk to a freshly started Envoy (degraded, source snapshot), and catches up when Consul
 * returns (a KV flip is applied).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { seedKv, startEchoCell, type EchoCell } from '../../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../../infra/process.js';
import { assertError, assertRouted, send } from '../../infra/harness/routing-contract.js';
import { createLogger } from '../../shared/logger.js';
import { lastGoodPath } from './index.js';
import { LastGoodWriter, readLastGood, writeLastGood, type RoutingView } from './last-good.js';
import { startControlPlane, startTestEnvoy, type TestControlPlane } from './testing.js';

const log = createLogger('test');
log.level = 'silent';

const view = (markets: number): RoutingView => ({
  cells: new Map([['cell-a', { id: 'cell-a', state: 'active', canary: false, global: true, capacity: 1, version: 'v1' }]]),
  markets: new Map(Array.from({ length: markets }, (_, i) => [`m-${i}`, { cell: 'cell-a', state: 'active', epoch: 1 }] as const)),
  endpoints: [{ id: 'cellsim-cell-cell-a-blue-9100', cell: 'cell-a', address: '127.0.0.1', port: 9100, version: 'v1', color: 'blue' }],
  holdEndpoints: [{ id: 'cellsim-xds-cp-1-8090', cell: 'hold', address: '127.0.0.1', port: 8090, version: 'unknown', color: 'blue' }],
});

describe('last good view file', () => {
  it('round-trips cells, markets (in slices), endpoints and hold endpoints; a missing file is undefined', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cellsim-lastgood-'));
    try {
      const path = join(dir, 'xds', 'last-good.json');
      assert.equal(await readLastGood(path), undefined);
      const v = view(12_345);
      await writeLastGood(path, v, '2026-11-23T00:00:00.000Z');
      const back = await readLastGood(path);
      assert.equal(back?.savedAt, '2026-11-23T00:00:00.000Z');
      assert.deepEqual([...back.cells], [...v.cells]);
      assert.deepEqual([...back.markets], [...v.markets]);
      assert.deepEqual(back.endpoints, v.endpoints);
      assert.deepEqual(back.holdEndpoints, v.holdEndpoints);
      await writeLastGood(path, view(0));
      assert.equal((await readLastGood(path))?.markets.size, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a torn or invalid file (it is never served)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cellsim-lastgood-'));
    try {
      const path = join(dir, 'last-good.json');
      await writeFile(path, '{"version":1,"savedAt":"x","cells":[');
      await assert.rejects(readLastGood(path), /not JSON/);
      await writeLastGood(path, view(1));
      const bad = JSON.stringify({
        ...JSON.parse(await (await import('node:fs/promises')).readFile(path, 'utf8')),
        markets: [['BAD_ID', {}]],
      });
      await writeFile(path, bad);
      await assert.rejects(readLastGood(path), /invalid/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes the latest of a burst of saves, not each one, and flushes on demand', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cellsim-lastgood-'));
    try {
      const path = join(dir, 'last-good.json');
      const writes: number[] = [];
      const w = new LastGoodWriter(path, log, (r) => void writes.push(r.bytes), 200);
      for (let i = 1; i <= 20; i++) w.save(view(i));
      await w.flush();
      assert.equal((await readLastGood(path))?.markets.size, 20);
      assert.ok(writes.length <= 2, `${writes.length} writes for 20 saves`);
      assert.deepEqual(await readdir(dir), ['last-good.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('control plane restarted while Consul is down (real Consul, Envoy, cells)', () => {
  const scope = new ProcessScope();
  let dir: string;
  let consul: ConsulAgent;
  let cp: TestControlPlane;
  const cells: EchoCell[] = [];
  const readyz = async () => (await (await fetch(`${cp.httpUrl}/readyz`)).json()) as { source: string; degraded: boolean };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cellsim-lastgood-it-'));
    consul = await startConsul({ dataDir: join(dir, 'consul') });
    scope.adopt(consul.proc);
    for (const id of ['cell-a', 'cell-b']) cells.push(await startEchoCell({ cell: id, consulUrl: consul.url }));
    await seedKv(consul.url, {
      cells: { 'cell-a': {}, 'cell-b': {} },
      markets: { 'm-a': { cell: 'cell-a' }, 'm-b': { cell: 'cell-b' }, 'm-flip': { cell: 'cell-a' } },
    });
  });

  after(async () => {
    for (const c of cells) await c.close().catch(() => undefined);
    await scope.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the last good view from disk to a fresh Envoy while Consul is down, and catches up when it returns', async () => {
    const data = join(dir, 'cp');
    cp = await startControlPlane(scope, { consulUrl: consul.url, id: 'cp-1', holdMs: 500, data });
    assert.deepEqual(await readyz(), { ready: true, source: 'consul', degraded: false, consulReachable: true });
    // The view reaches the disk once complete (both instances passing, all markets).
    await waitFor(
      async () => {
        const v = await readLastGood(lastGoodPath(data)).catch(() => undefined);
        return v?.markets.size === 3 && v.endpoints.length === 2;
      },
      10_000,
      () => 'the last good view on disk',
    );

    await cp.proc.kill();
    await consul.proc.stop();
    cp = await cp.restart(); // waits for /readyz 200: ready from the file alone
    const r = await readyz();
    assert.equal(r.source, 'snapshot');
    assert.equal(r.degraded, true);
    const metrics = await (await fetch(`${cp.httpUrl}/metrics`)).text();
    assert.match(metrics, /cellsim_xds_source\{source="snapshot"[^}]*\} 1/);
    assert.match(metrics, /cellsim_xds_degraded\{[^}]*\} 1/);

    const envoy = await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'edge-fresh' });
    const market = (m: string) => send(envoy.url, '/v1/orders', [['x-market-id', m]]);
    await waitFor(
      async () => (await market('m-a')).status === 200,
      10_000,
      () => 'the fresh Envoy to route m-a from the snapshot',
    );
    assertRouted(await market('m-a'), 'cell-a');
    assertRouted(await market('m-b'), 'cell-b');
    assertRouted(await market('m-flip'), 'cell-a');
    assertError(await market('m-nobody'), 404, 'unknown_market');

    consul = await startConsul({ ports: consul.ports, dataDir: join(dir, 'consul'), name: 'consul-again' });
    scope.adopt(consul.proc);
    await waitFor(
      async () => {
        const h = await readyz();
        return h.source === 'consul' && !h.degraded;
      },
      20_000,
      () => 'the control plane back on a live Consul view',
    );
    await seedKv(consul.url, { markets: { 'm-flip': { cell: 'cell-b', epoch: 2 } } });
    await waitFor(
      async () => {
        const a = await market('m-flip');
        return a.status === 200 && a.headers['x-cell-id'] === 'cell-b';
      },
      10_000,
      () => 'the KV flip after Consul returned',
    );
    assertRouted(await market('m-a'), 'cell-a');
    assert.match(await (await fetch(`${cp.httpUrl}/metrics`)).text(), /cellsim_xds_degraded\{[^}]*\} 0/);
  });
});
