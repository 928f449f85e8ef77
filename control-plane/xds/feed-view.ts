/**
 * Assembles the xDS builder's input from the parts the feed follows (cells, markets, passing cell
 * instances, hold endpoints), without Consul: what each emit publishes, which markets changed
 * since the last one, and where the view comes from. Parts Consul has not answered yet come from
 * the last good view on disk (`initial`), so a control plane started while Consul is down still
 * serves a full table. Cells without passing instances keep their last passing ones for a while
 * (panic-endpoints.ts), and a color switch keeps the previous color at priority 1 (flip-fallback.ts).
 */
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import { activeEndpoints, findGlobalCell, type Endpoint } from '../../shared/routing-table.js';
import type { BuildInput } from './build.js';
import { OverlayMap } from './cache/overlay-map.js';
import { FlipFallback } from './flip-fallback.js';
import type { RoutingView } from './last-good.js';
import { PanicEndpoints, type PanicResult } from './panic-endpoints.js';
import { ExperimentWarmup } from './experiment-warmup.js';

/** Where the served view comes from: nothing yet, the last good view on disk, or Consul. */
export type FeedSource = 'none' | 'snapshot' | 'consul';

/** The markets as the follower holds them. */
export interface MarketsSource {
  /** True once Consul listed every market. */
  readonly ready: boolean;
  get(id: string): MarketRecord | undefined;
  /** Every market (read once, for a build in full). */
  entries(): Iterable<readonly [string, MarketRecord]>;
}

/** One assembled input, with what the feed reports about it. */
export interface Assembled {
  input: BuildInput;
  /** The view as complete from Consul (undefined while any part came from the initial view). */
  consulView: RoutingView | undefined;
  /** When the first stand-in set or flip fallback runs out (epoch ms): emit again then. */
  nextExpiry: number | undefined;
}

/** Options of {@link FeedView}. */
export interface FeedViewOptions {
  log: Logger;
  initial?: RoutingView;
  panicMs?: number;
  flipGraceMs?: number;
}

/** The parts of the view and the assembly of each emit. */
export class FeedView {
  cells: ReadonlyMap<string, CellRecord> | undefined;
  endpoints: readonly Endpoint[] | undefined;
  holdEndpoints: readonly Endpoint[] | undefined;
  /** Which parts Consul has answered (the others come from `initial`). */
  readonly answered = { cells: false, endpoints: false, hold: false };
  private marketsFrom: FeedSource = 'none';
  private firstBuild = true;
  /** Markets changed since the last emit (the builder re-encodes only these). */
  private changed = new Set<string>();
  private published: ReadonlyMap<string, MarketRecord> = new Map();
  private readonly panic: PanicEndpoints;
  private readonly flips: FlipFallback;
  private readonly warmup = new ExperimentWarmup();
  private panicking = '';

  constructor(private readonly o: FeedViewOptions) {
    if (o.initial !== undefined) {
      this.cells = new Map(o.initial.cells);
      this.endpoints = o.initial.endpoints;
      this.holdEndpoints = o.initial.holdEndpoints;
    }
    this.panic = new PanicEndpoints(o.panicMs);
    this.flips = new FlipFallback(o.flipGraceMs);
  }

  marketsChanged(ids: Iterable<string>): void {
    for (const id of ids) this.changed.add(id);
  }

  /** The input of this emit; undefined while a part is missing (neither Consul nor the initial view has it). */
  assemble(markets: MarketsSource): Assembled | undefined {
    const { cells, endpoints, holdEndpoints, o } = this;
    if (!cells || !endpoints || !holdEndpoints) return undefined;
    if (!markets.ready && o.initial === undefined) return undefined;
    let changedSet: ReadonlySet<string> | undefined;
    if (!markets.ready) {
      // Consul has not listed the markets yet: the last good view's, built in full once.
      changedSet = this.marketsFrom === 'snapshot' ? new Set() : undefined;
      if (this.marketsFrom !== 'snapshot') this.published = o.initial!.markets;
      this.marketsFrom = 'snapshot';
    } else {
      // First Consul listing (or first build): in full; then only the changed records. The
      // markets as of this emit (the follower moves on): a copy once, then the previous view
      // plus the changed records, so readers of `current` (the hold endpoint, the migration
      // barrier) see exactly what was built and published.
      changedSet = this.firstBuild || this.marketsFrom !== 'consul' ? undefined : this.changed;
      this.marketsFrom = 'consul';
      if (changedSet === undefined) this.published = new Map(markets.entries());
      else if (changedSet.size > 0) {
        const changes = new Map<string, MarketRecord | undefined>();
        for (const id of changedSet) changes.set(id, markets.get(id));
        this.published = OverlayMap.of(this.published, changes);
      }
    }
    this.firstBuild = false;
    this.changed = new Set();
    const passing = activeEndpoints(cells, endpoints);
    const served = this.panic.apply(cells, new Map(passing));
    this.notePanic(served);
    const flipped = this.flips.apply(cells, endpoints);
    const xp = this.warmup.apply(this.published, changedSet, cells);
    const expiries = [served.nextExpiry, flipped.nextExpiry, xp.nextExpiry].filter((e): e is number => e !== undefined);
    const input: BuildInput = {
      cells,
      markets: this.published,
      changedMarkets: changedSet,
      endpoints: served.endpoints,
      fallbackEndpoints: flipped.fallback,
      globalCell: findGlobalCell(cells),
      holdEndpoints,
      allEndpoints: endpoints,
      warmExperiments: xp.warm,
      passingEndpoints: passing,
    };
    const { answered } = this;
    const consulView =
      this.marketsFrom === 'consul' && answered.cells && answered.endpoints && answered.hold
        ? { cells, markets: this.published, endpoints, holdEndpoints }
        : undefined;
    return { input, consulView, nextExpiry: expiries.length > 0 ? Math.min(...expiries) : undefined };
  }

  /** Logs cells entering or leaving panic routing. */
  private notePanic(r: PanicResult): void {
    const now = r.panicking.join(',');
    if (now === this.panicking) return;
    if (r.panicking.length > 0) this.o.log.warn({ cells: r.panicking }, 'no passing instance: publishing the last passing ones');
    else this.o.log.info('every cell has passing instances again');
    this.panicking = now;
  }
}
