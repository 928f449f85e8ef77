/**
 * Resolution market → route (cell, state, epoch, active-color endpoints) in O(1), with no
 * allocation per request. The store interns market records (one shared object per distinct
 * cell/state/epoch, shared/routing-store.ts), so every market with the same record shares one
 * route, kept in a map keyed by that record. The map is dropped whole when the store's
 * generation moves (a cell record or the endpoint set changed); a moved market gets a new record
 * object, hence its new route at once. Hit/miss/stale counts go to metrics.
 *
 * Before, routes were cached per market in a 10,000-entry LRU: with traffic over 100,000 markets
 * nine lookups in ten missed and built a route, and the churn cost throughput and garbage.
 */
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import type { RoutingStore } from '../../shared/routing-store.js';
import type { Endpoint } from '../../shared/routing-table.js';
import type { RouterMetrics } from '../metrics.js';

/** Where a request goes (shared by every market with the same record: it names no market). */
export interface Route {
  cell: string;
  state: 'active' | 'frozen';
  epoch: number;
  /** The cell's record; undefined when the market names a cell that `cells/` does not know. */
  cellRecord: CellRecord | undefined;
  /** Passing endpoints of the cell's active color (empty: the cell has no healthy instance). */
  endpoints: readonly Endpoint[];
  /** The store generation this route was computed at. */
  generation: number;
}

/** Options of {@link Resolver}. */
export interface ResolverOptions {
  /** Most routes held before the map is rebuilt (default 10,000; one per distinct record in use). */
  max?: number;
}

/** Route lookups in front of a {@link RoutingStore}. */
export class Resolver {
  private routes = new Map<MarketRecord, Route>();
  private generation: number;
  private readonly max: number;
  private readonly hits;
  private readonly misses;
  private readonly stale;

  constructor(
    private readonly store: RoutingStore,
    metrics: RouterMetrics,
    opts: ResolverOptions = {},
  ) {
    this.max = opts.max ?? 10_000;
    this.generation = store.generation;
    this.hits = metrics.cache.labels('hit');
    this.misses = metrics.cache.labels('miss');
    this.stale = metrics.cache.labels('stale');
  }

  /** The route of `market`, or undefined when no cell owns it. */
  resolve(market: string): Route | undefined {
    const rec = this.store.markets.get(market);
    if (rec === undefined) return undefined;
    if (this.generation !== this.store.generation) {
      this.generation = this.store.generation;
      this.routes.clear();
      this.stale.inc();
    }
    const cached = this.routes.get(rec);
    if (cached !== undefined) {
      this.hits.inc();
      return cached;
    }
    this.misses.inc();
    // Records no market uses any more (old epochs) are not tracked: past the bound, start over.
    if (this.routes.size >= this.max) this.routes.clear();
    const route = this.build(rec.cell, rec.state, rec.epoch);
    this.routes.set(rec, route);
    return route;
  }

  /** The route of `/v1/global/` (not cached: one entry), or undefined when no cell is global. */
  resolveGlobal(): Route | undefined {
    const cell = this.store.globalCell;
    return cell === undefined ? undefined : this.build(cell, 'active', 0);
  }

  private build(cell: string, state: 'active' | 'frozen', epoch: number): Route {
    return {
      cell,
      state,
      epoch,
      cellRecord: this.store.cells.get(cell),
      endpoints: this.store.endpoints.get(cell) ?? [],
      generation: this.store.generation,
    };
  }

  /** Routes held right now. */
  get size(): number {
    return this.routes.size;
  }
}
