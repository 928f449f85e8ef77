import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeatScraper, acceptedByMarket } from './heat.js';
import { cellsRegion } from './pages/regions.js';
import type { Snapshot } from './snapshot.js';

const metrics = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([m, n]) => `cellsim_orders_accepted_total{market="${m}"} ${n}`)
    .join('\n') + '\nother_metric 5\n';

describe('console heat map', () => {
  it('reads accepted orders per market from a cell metrics text', () => {
    assert.deepEqual(
      [...acceptedByMarket(metrics({ nyc: 3, la: 1 }))],
      [
        ['nyc', 3],
        ['la', 1],
      ],
    );
  });

  it('turns two scrapes into orders/s per cell and market, busiest first, and skips restarts and vanished instances', async () => {
    const texts = new Map<string, string>();
    const heat = new HeatScraper(async (url) => {
      const t = texts.get(url);
      if (t === undefined) throw new Error('down');
      return t;
    }, 2);
    const targets = [
      { cell: 'cell-1', url: 'a' },
      { cell: 'cell-2', url: 'b' },
      { cell: 'cell-2', url: 'c' },
    ];
    texts.set('a', metrics({ nyc: 10, la: 0 }));
    texts.set('b', metrics({ sf: 100 }));
    const first = await heat.sample(targets, 0);
    assert.deepEqual(first, { targets: 3, answered: 2, rows: [], max: 0, reconcile: {} }, 'a first scrape has no rate');
    texts.set('a', metrics({ nyc: 30, la: 2 }));
    texts.set('b', metrics({ sf: 50 })); // restarted: counter went down
    texts.set('c', metrics({ sf: 7 })); // first answer
    const second = await heat.sample(targets, 2000);
    assert.equal(second.answered, 3);
    assert.deepEqual(second.rows, [
      { market: 'nyc', total: 10, byCell: { 'cell-1': 10 } },
      { market: 'la', total: 1, byCell: { 'cell-1': 1 } },
    ]);
    assert.equal(second.max, 10);
    // During a migration one market takes orders on two cells: one row, two cells.
    texts.set('a', metrics({ nyc: 34, la: 2 }));
    texts.set('b', metrics({ sf: 50, nyc: 0 }));
    await heat.sample(targets, 4000);
    texts.set('a', metrics({ nyc: 36, la: 2 }));
    texts.set('b', metrics({ sf: 50, nyc: 8 }));
    const third = await heat.sample(targets, 6000);
    assert.deepEqual(third.rows[0], { market: 'nyc', total: 5, byCell: { 'cell-1': 1, 'cell-2': 4 } });
  });

  it("reads each cell's reconciliation alert from the same scrape", async () => {
    const texts: Record<string, string> = {
      a: 'cellsim_reconcile_last_found{cell="cell-1"} 0\n',
      b: 'cellsim_reconcile_last_found{cell="cell-2"} 3\n',
    };
    const heat = new HeatScraper(async (url) => texts[url]!);
    const h = await heat.sample([
      { cell: 'cell-1', url: 'a' },
      { cell: 'cell-2', url: 'b' },
    ]);
    assert.deepEqual(h.reconcile, { 'cell-2': 3 });
    // The overview's cells table shows it as a badge on that cell only.
    const cell = (id: string) => ({
      id,
      state: 'active',
      version: 'v1',
      activeColor: 'blue',
      health: 'healthy',
      instances: [],
      markets: 0,
    });
    const snap = { cells: [cell('cell-1'), cell('cell-2')], heat: h } as unknown as Snapshot;
    const page = String(await cellsRegion(snap, false));
    const rows = page.split('<tr data-cell=').slice(1);
    assert.doesNotMatch(rows[0]!, /reconciliation:/);
    assert.match(rows[1]!, /reconciliation: 3/);
  });
});
