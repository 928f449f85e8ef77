/**
 * The builder's per-change cost and its incremental results. Cost is counted, not timed: the
 * Map/Set entries visited while one change is published (bench/visits.ts) must be the same at
 * 1,000 and at 20,000 markets, which a wall clock on a shared 2-core machine could not tell.
 * Results: after any sequence of incremental builds, every type equals a full build.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import { BuildRig } from './bench/build-rig.js';
import { countVisits, type Visits } from './bench/visits.js';
import { ResourceBuilder, type BuildInput } from './build.js';
import { typeSnapshot } from './cache/snapshot.js';
import { CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE } from './resources/type-urls.js';

/** Entries visited over the same 30 changes (moves, freezes, two changes that alter nothing) of a rig of n markets. */
function visitsPerChange(n: number): Visits {
  const rig = new BuildRig(n, 1000);
  for (let k = 0; k < 20; k++) rig.publish(rig.nextMove());
  const total: Visits = { entries: 0, largest: 0 };
  for (let k = 0; k < 30; k++) {
    const input = k % 15 === 7 ? rig.unchanged() : rig.nextMove();
    const { visits } = countVisits(() => rig.publish(input));
    total.entries += visits.entries;
    total.largest = Math.max(total.largest, visits.largest);
  }
  return total;
}

describe('snapshot build per change', () => {
  it('visits as many entries at 20,000 markets as at 1,000: no step of a change walks the markets', () => {
    const small = visitsPerChange(1000);
    const big = visitsPerChange(20_000);
    assert.ok(small.entries > 0, 'the counter sees the per-change work');
    assert.equal(big.entries, small.entries, `entries visited per 30 changes: ${small.entries} at 1,000 markets, ${big.entries} at 20,000`);
    assert.ok(big.largest < 100, `largest Map/Set walked during a change at 20,000 markets: ${big.largest}`);
  });

  it('counts a walk of the markets (the counter would see a return to O(n))', () => {
    const rig = new BuildRig(20_000, 1000);
    const move = rig.nextMove();
    const { visits } = countVisits(() => rig.publish({ ...move, changedMarkets: undefined }));
    assert.ok(visits.entries >= 20_000, `a build without changedMarkets visited ${visits.entries} entries`);
    assert.ok(visits.largest >= 20_000);
  });
});

const cellRecord = (id: string): CellRecord => ({
  id,
  state: 'active',
  canary: false,
  global: id === 'cell-b',
  capacity: 1,
  version: 'v1',
});

function input(markets: Map<string, MarketRecord>, changed?: string[]): BuildInput {
  return {
    cells: new Map([
      ['cell-a', cellRecord('cell-a')],
      ['cell-b', cellRecord('cell-b')],
    ]),
    markets: new Map(markets),
    endpoints: new Map(),
    globalCell: 'cell-b',
    changedMarkets: changed === undefined ? undefined : new Set(changed),
  };
}

describe('incremental build', () => {
  it('equals a full build while markets bring cells without a record in and take them out', () => {
    const markets = new Map<string, MarketRecord>([
      ['m-1', { cell: 'cell-a', state: 'active', epoch: 1 }],
      ['m-2', { cell: 'cell-b', state: 'active', epoch: 1 }],
      ['m-3', { cell: 'cell-c', state: 'active', epoch: 1 }],
    ]);
    const builder = new ResourceBuilder();
    builder.build(input(markets));
    const steps: [string, () => string[]][] = [
      [
        'm-3 leaves cell-c, which no market names any more',
        () => (markets.set('m-3', { cell: 'cell-a', state: 'active', epoch: 2 }), ['m-3']),
      ],
      ['new m-4 on cell-d', () => (markets.set('m-4', { cell: 'cell-d', state: 'active', epoch: 1 }), ['m-4'])],
      ['m-4 frozen (cell-d still named)', () => (markets.set('m-4', { cell: 'cell-d', state: 'frozen', epoch: 2 }), ['m-4'])],
      ['m-5 also on cell-d', () => (markets.set('m-5', { cell: 'cell-d', state: 'active', epoch: 1 }), ['m-5'])],
      ['m-4 deleted (m-5 keeps cell-d)', () => (markets.delete('m-4'), ['m-4'])],
      ['m-5 deleted and m-1 rewritten as it was', () => (markets.delete('m-5'), ['m-5', 'm-1'])],
      ['a deleted market named again', () => ['m-4']],
    ];
    const cellsOf = (r: ReturnType<ResourceBuilder['build']>) => [...r.types.get(CLUSTER)!.keys()].sort();
    const seen: string[][] = [];
    for (const [what, step] of steps) {
      const inc = builder.build(input(markets, step()));
      const full = new ResourceBuilder().build(input(markets));
      for (const t of [CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE] as const) {
        assert.deepEqual([...inc.types.get(t)!.keys()].sort(), [...full.types.get(t)!.keys()].sort(), `${what}: ${t} names`);
        assert.equal(typeSnapshot(inc.types.get(t)!).version, typeSnapshot(full.types.get(t)!).version, `${what}: ${t} version`);
      }
      seen.push(cellsOf(inc));
    }
    assert.deepEqual(seen, [
      ['cell:cell-a', 'cell:cell-b'],
      ['cell:cell-a', 'cell:cell-b', 'cell:cell-d'],
      ['cell:cell-a', 'cell:cell-b', 'cell:cell-d'],
      ['cell:cell-a', 'cell:cell-b', 'cell:cell-d'],
      ['cell:cell-a', 'cell:cell-b', 'cell:cell-d'],
      ['cell:cell-a', 'cell:cell-b'],
      ['cell:cell-a', 'cell:cell-b'],
    ]);
  });
});
