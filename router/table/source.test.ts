/**
 * When the table worker dies: the router serves its last table, degraded, every watch naming the
 * cause (out of heap: --table-heap-mb); a new worker follows Consul again after a backoff, and a
 * market deleted meanwhile is removed (real Consul for the restart).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { startConsul } from '../../infra/harness/consul.js';
import { ConsulClient } from '../../shared/consul/client.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../../infra/process.js';
import { freePort } from '../../infra/ports.js';
import type { MarketRecord } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import { createRegistry } from '../../shared/metrics.js';
import { RoutingStore } from '../../shared/routing-store.js';
import { createRouterMetrics } from '../metrics.js';
import { writeSnapshot } from '../snapshot/index.js';
import { TableSource } from './source.js';

describe('TableSource', () => {
  it('reports a worker out of heap as degraded on every watch, naming --table-heap-mb', async () => {
    const registry = createRegistry('router');
    // A snapshot of 100,000 markets does not fit a 16 MB heap: the worker dies reading it.
    const snapshotPath = join(mkdtempSync(join(tmpdir(), 'table-heap-')), 'table.json');
    const markets = Array.from({ length: 100_000 }, (_, i): [string, MarketRecord, number] => [
      `m-${i}`,
      { cell: 'c', state: 'active', epoch: i },
      i + 1,
    ]);
    await writeSnapshot(snapshotPath, { version: 1, savedAt: new Date().toISOString(), cells: [], endpoints: [], markets });
    const table = new TableSource(new RoutingStore(), {
      consulUrl: `http://127.0.0.1:${await freePort()}`, // nothing listens
      prefix: 'cellsim/',
      snapshotPath,
      tableHeapMb: 16,
      logger: createLogger('test'),
      metrics: createRouterMetrics(registry),
    });
    table.start();
    try {
      await waitFor(
        async () => table.status().watches.markets.lastError?.includes('ran out of heap') === true,
        20_000,
        () => 'the worker to run out of heap',
      );
      const st = table.status();
      assert.equal(st.degraded, true);
      for (const w of ['markets', 'cells', 'endpoints'] as const) {
        assert.equal(st.watches[w].ok, false);
        assert.match(st.watches[w].lastError ?? '', /--table-heap-mb 16\b.*a new worker in 1 s.*larger --table-heap-mb/);
      }
      assert.match(await registry.metrics(), /cellsim_router_degraded\{[^}]*\} 1/);
    } finally {
      await table.close();
    }
  });

  it('starts a new worker after one dies, and removes the markets deleted while none ran', async () => {
    const scope = new ProcessScope();
    await scope.run(async () => {
      const consul = await startConsul();
      scope.adopt(consul.proc);
      await seedKv(consul.url, { cells: { 'cell-a': {} }, markets: { 'm-1': { cell: 'cell-a' }, 'm-2': { cell: 'cell-a' } } });
      const store = new RoutingStore();
      const table = new TableSource(store, {
        consulUrl: consul.url,
        prefix: 'cellsim/',
        logger: createLogger('test'),
        metrics: createRouterMetrics(createRegistry('router')),
      });
      table.start();
      try {
        await waitFor(
          async () => store.markets.size === 2 && !table.status().degraded,
          20_000,
          () => 'the first table',
        );
        const first = (table as unknown as { worker: Worker }).worker;
        await first.terminate();
        assert.equal(table.status().degraded, true, 'degraded while no worker runs');
        assert.match(table.status().watches.cells.lastError ?? '', /table worker exited.*a new worker in 1 s/);
        assert.equal(store.markets.size, 2, 'the last table stays');
        // while no worker runs: one market deleted, one added
        await new ConsulClient({ url: consul.url }).kv.delete('cellsim/markets/m-2');
        await seedKv(consul.url, { markets: { 'm-3': { cell: 'cell-a' } } });
        await waitFor(
          async () => !table.status().degraded && store.markets.has('m-3') && !store.markets.has('m-2'),
          20_000,
          () => `a new worker's table (markets: ${[...store.markets.keys()].join(', ')}; degraded: ${table.status().degraded})`,
        );
        assert.notEqual((table as unknown as { worker: Worker }).worker, first);
        assert.deepEqual([...store.markets.keys()].sort(), ['m-1', 'm-3']);
      } finally {
        await table.close();
      }
    });
  });
});
