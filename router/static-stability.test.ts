/**
 * Integration: real Consul (persistent, restartable), real echo cells, the router as a real
 * process. KV flips, Consul going away and coming back, a restart from the snapshot while
 * Consul is down, and garbage in KV.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { ConsulClient } from '../shared/consul/client.js';
import { seedKv, startEchoCell } from '../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { send } from '../infra/harness/routing-contract.js';
import { startRouterProcess } from './testing.js';

interface Ready {
  ready: boolean;
  degraded: boolean;
  source: string;
}

async function readyz(url: string): Promise<Ready> {
  const res = await fetch(`${url}/readyz`);
  return (await res.json()) as Ready;
}

const cellOf = async (url: string, market: string) => (await send(url, '/v1/orders', [['x-market-id', market]])).headers['x-cell-id'];

describe('router static stability (real Consul, real processes)', () => {
  it('applies flips, keeps routing with Consul down, restarts from the snapshot, catches up, and ignores garbage KV values', async () => {
    const scope = new ProcessScope();
    const cells = ['cell-a', 'cell-b'];
    await scope.run(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'router-ss-'));
      const snapshot = join(dir, 'table.json');
      let consul = await startConsul({ dataDir: join(dir, 'consul') });
      const ports = consul.ports;
      const echo = await Promise.all(cells.map((cell) => startEchoCell({ cell, consulUrl: consul.url })));
      try {
        await seedKv(consul.url, {
          cells: { 'cell-a': {}, 'cell-b': {} },
          markets: { 'm-1': { cell: 'cell-a' }, 'm-2': { cell: 'cell-b' }, 'm-3': { cell: 'cell-a' } },
        });
        let router = await startRouterProcess(scope, { consulUrl: consul.url, snapshot });
        await waitFor(
          async () => (await cellOf(router.url, 'm-1')) === 'cell-a',
          10_000,
          () => 'm-1 routed',
        );
        await waitFor(
          async () => (await cellOf(router.url, 'm-2')) === 'cell-b',
          10_000,
          () => 'm-2 routed',
        );

        // A flip: the next request after the router has seen it goes to the new owner.
        await seedKv(consul.url, { markets: { 'm-1': { cell: 'cell-b', epoch: 2 } } });
        await waitFor(
          async () => (await cellOf(router.url, 'm-1')) === 'cell-b',
          2000,
          () => 'm-1 flipped to cell-b',
        );
        for (let i = 0; i < 10; i++) assert.equal(await cellOf(router.url, 'm-1'), 'cell-b');

        // Garbage JSON, a record of the wrong shape, and a market pointing to an unknown cell.
        const kv = new ConsulClient({ url: consul.url }).kv;
        await kv.put('cellsim/markets/m-2', '{garbage');
        await kv.put('cellsim/markets/m-3', JSON.stringify({ cell: 'cell-b', state: 'moving', epoch: 1 }));
        await seedKv(consul.url, { markets: { 'm-ghost': { cell: 'cell-nowhere' } } });
        await waitFor(
          async () => (await send(router.url, '/v1/orders', [['x-market-id', 'm-ghost']])).status === 503,
          3000,
          () => 'm-ghost known to the router',
        );
        const ghost = await send(router.url, '/v1/orders', [['x-market-id', 'm-ghost']]);
        assert.equal((ghost.json as { error: { code: string } }).error.code, 'cell_unavailable');
        assert.equal(await cellOf(router.url, 'm-2'), 'cell-b', 'garbage kept the last good m-2');
        assert.equal(await cellOf(router.url, 'm-3'), 'cell-a', 'an invalid record kept the last good m-3');
        const metrics = await (await fetch(`${router.url}/metrics`)).text();
        const invalid = /cellsim_router_kv_invalid_total\{kind="markets"[^}]*\} (\d+)/.exec(metrics);
        assert.ok(invalid && Number(invalid[1]) >= 2, 'invalid values are counted');
        assert.match(router.proc.output(), /invalid Consul value ignored/);
        assert.equal((await readyz(router.url)).degraded, false);

        // Consul stops: routing continues, /readyz says degraded.
        await consul.proc.stop();
        await waitFor(
          async () => (await readyz(router.url)).degraded,
          5000,
          () => 'router to report degraded',
        );
        for (let i = 0; i < 20; i++) assert.equal(await cellOf(router.url, i % 2 ? 'm-1' : 'm-3'), i % 2 ? 'cell-b' : 'cell-a');

        // The snapshot is written asynchronously (debounced, fsync'd): wait until it holds the
        // flip and the endpoints, as a real restart can only route from what reached the disk.
        await waitFor(
          () => {
            const snap = JSON.parse(readFileSync(snapshot, 'utf8')) as { endpoints: unknown[]; markets: [string, { cell: string }][] };
            return snap.endpoints.length === 2 && snap.markets.some(([m, r]) => m === 'm-1' && r.cell === 'cell-b');
          },
          15_000,
          () => `snapshot to hold the flip and both endpoints: ${readFileSync(snapshot, 'utf8').slice(-300)}`,
        );
        // Router restarted (killed) while Consul is down: routes from the snapshot.
        const saved = readFileSync(snapshot, 'utf8');
        await router.proc.kill();
        router = await startRouterProcess(scope, { consulUrl: consul.url, snapshot, port: router.port, name: 'router-restarted' });
        const r = await readyz(router.url);
        assert.equal(r.ready, true);
        assert.equal(r.degraded, true);
        assert.equal(r.source, 'snapshot');
        assert.equal(await cellOf(router.url, 'm-1'), 'cell-b', `snapshot before the kill: ${saved.slice(-300)}`);
        assert.equal(await cellOf(router.url, 'm-2'), 'cell-b');
        assert.equal(await cellOf(router.url, 'm-3'), 'cell-a');

        // Consul returns: the router catches up (a move made now is applied), degraded clears.
        consul = await startConsul({ ports, dataDir: join(dir, 'consul'), name: 'consul-restarted' });
        scope.adopt(consul.proc);
        await seedKv(consul.url, { markets: { 'm-1': { cell: 'cell-a', epoch: 3 } } });
        await waitFor(
          async () => (await cellOf(router.url, 'm-1')) === 'cell-a',
          15_000,
          () => 'm-1 back to cell-a after Consul returned',
        );
        await waitFor(
          async () => !(await readyz(router.url)).degraded,
          15_000,
          () => 'degraded to clear',
        );
        assert.equal((await readyz(router.url)).source, 'consul');
      } finally {
        await Promise.all(echo.map((e) => e.close()));
        await consul.proc.stop();
      }
    });
  });
});
