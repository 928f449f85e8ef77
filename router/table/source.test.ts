/**
 * The table worker's heap limit (--table-heap-mb): a worker that runs out of heap leaves the router
 * serving its last table, degraded, with every watch naming the cause and what to do.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from '../../infra/harness/process.js';
import { freePort } from '../../infra/harness/ports.js';
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
        assert.match(st.watches[w].lastError ?? '', /--table-heap-mb 16\b.*larger --table-heap-mb/);
      }
      assert.match(await registry.metrics(), /cellsim_router_degraded\{[^}]*\} 1/);
    } finally {
      await table.close();
    }
  });
});
