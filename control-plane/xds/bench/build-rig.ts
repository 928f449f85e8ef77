/**
 * The control plane's per-change path without Consul or Envoy, for the build test and the
 * build benchmark: a Publisher (builder, snapshot, consistency check, cache, metrics) with one
 * node and `n` markets over two cells, fed as the Consul feed feeds it (the markets as an
 * OverlayMap of the previous view plus the changed records, with `changedMarkets`). Moves
 * are deterministic: the k-th move of every rig moves the same market (drawn among the first
 * `spread`), so rigs of different sizes do the very same work unless the build depends on n.
 */
import { Registry } from 'prom-client';
import type { CellRecord, MarketRecord } from '../../../shared/kv.js';
import { createLogger } from '../../../shared/logger.js';
import type { Endpoint } from '../../../shared/routing-table.js';
import { OverlayMap } from '../cache/overlay-map.js';
import { SnapshotCache } from '../cache/snapshot-cache.js';
import type { BuildInput } from '../build.js';
import { XdsMetrics } from '../metrics.js';
import { META_LISTEN_ADDRESS, META_LISTEN_PORT, Publisher } from '../publisher.js';

/** The node the rig publishes to. */
export const RIG_NODE = 'rig-edge';

const CELLS = ['cell-a', 'cell-b'] as const;
const cellRecord = (id: string): CellRecord => ({
  id,
  state: 'active',
  canary: false,
  global: id === 'cell-b',
  capacity: 1,
  version: 'v1',
});
const endpoint = (cell: string, port: number): Endpoint => ({
  id: `${cell}-1`,
  cell,
  address: '127.0.0.1',
  port,
  version: 'v1',
  color: 'blue',
});

/** A publisher with `n` markets and one node, moved one market at a time. */
export class BuildRig {
  readonly cache = new SnapshotCache();
  readonly publisher: Publisher;
  private markets: ReadonlyMap<string, MarketRecord>;
  private readonly cells = new Map(CELLS.map((c) => [c, cellRecord(c)]));
  private readonly endpoints = new Map(CELLS.map((c, i) => [c, [endpoint(c, 9000 + i)]]));
  private moves = 0;
  private seed = 12345;

  /** `spread`: moves draw among markets m-0..m-(spread-1) (at most n). */
  constructor(
    readonly n: number,
    private readonly spread = Math.min(n, 1000),
  ) {
    const markets = new Map<string, MarketRecord>();
    for (let i = 0; i < n; i++) markets.set(`m-${i}`, { cell: CELLS[i % 2]!, state: 'active', epoch: 1 });
    this.markets = markets;
    this.publisher = new Publisher(this.cache, new XdsMetrics(new Registry()), createLogger('build-rig'));
    this.publisher.addNode({ id: RIG_NODE, cluster: 'rig', metadata: { [META_LISTEN_ADDRESS]: '127.0.0.1', [META_LISTEN_PORT]: 10000 } });
    this.publisher.update(this.input(undefined), performance.now());
  }

  private input(changedMarkets: ReadonlySet<string> | undefined): BuildInput {
    return { cells: this.cells, markets: this.markets, endpoints: this.endpoints, globalCell: 'cell-b', changedMarkets };
  }

  /**
   * The next move's input (one market to the other cell, or frozen every tenth move), ready
   * for {@link publish}: what the feed hands the publisher.
   */
  nextMove(): BuildInput {
    this.seed = (this.seed * 1103515245 + 12345) % 2 ** 31;
    const market = `m-${this.seed % this.spread}`;
    const rec = this.markets.get(market)!;
    this.moves += 1;
    const next: MarketRecord =
      this.moves % 10 === 0
        ? { cell: rec.cell, state: 'frozen', epoch: rec.epoch + 1 }
        : { cell: rec.cell === 'cell-a' ? 'cell-b' : 'cell-a', state: 'active', epoch: rec.epoch + 1 };
    this.markets = OverlayMap.of(this.markets, new Map([[market, next]]));
    return this.input(new Set([market]));
  }

  /** An input with no market changed (what the feed emits when another watch answered with nothing new). */
  unchanged(): BuildInput {
    return this.input(new Set());
  }

  /** Publishes an input (the span `cellsim_xds_snapshot_build_seconds` measures). */
  publish(input: BuildInput): void {
    this.publisher.update(input, performance.now());
  }
}
