/**
 * Resolution market → route (cell, state, epoch, active-color endpoints) in O(1), with no
 * allocation per request. The store interns market records (one shared object per distinct
 * cell/state/epoch, shared/routing-store.ts), so every market with the same record shares one
 * route, held in a bounded lru-cache keyed by that record. A route is stale when the store's
 * generation moved (a cell record or the endpoint set changed) and is recomputed; a moved market
 * gets a new record object, hence its new route at once. Hit/miss/stale counts go to metrics.
 *
 * Keyed by record, not by market: with traffic spread over more markets than the cache holds, a
 * cache keyed by market misses on most lookups (docs/router.md §Routing table).
 */
import { LRUCache } from 'lru-cache';
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import type { RoutingStore } from '../../shared/routing-store.js';
import { byEndpointId, type Endpoint } from '../../shared/routing-table.js';
import { experimentLive, shareMoveTarget, type Experiment, type ShareMove } from '../../shared/experiment.js';
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
  /**
   * The market's A/B experiment when live on its cell (shared/experiment.ts): keyed requests take
   * `arms.variant` (the experiment's color) or `arms.control` (the active color) instead.
   */
  experiment?: { spec: Experiment; arms: Record<'variant' | 'control', Route> };
  /**
   * The market's share move when its target can serve (shared/experiment.ts `shareMoveTarget`):
   * keyed requests whose bucket is below the threshold take `to`, the route of the target cell.
   */
  shareMove?: { spec: ShareMove; to: Route };
}

/** Options of {@link Resolver}. */
export interface ResolverOptions {
  /** Max cached routes (default 10,000; one per distinct market record in use). */
  max?: number;
  /** Drill sabotage only (router/sabotage.ts): every market resolves to this cell, whoever owns it. */
  everyMarketTo?: string;
}

/** Cached route lookups in front of a {@link RoutingStore}. */
export class Resolver {
  private readonly cache: LRUCache<MarketRecord, Route>;
  private readonly hits;
  private readonly misses;
  private readonly stale;
  private readonly everyMarketTo: string | undefined;

  constructor(
    private readonly store: RoutingStore,
    metrics: RouterMetrics,
    opts: ResolverOptions = {},
  ) {
    this.cache = new LRUCache<MarketRecord, Route>({ max: opts.max ?? 10_000 });
    this.hits = metrics.cache.labels('hit');
    this.misses = metrics.cache.labels('miss');
    this.stale = metrics.cache.labels('stale');
    this.everyMarketTo = opts.everyMarketTo;
  }

  /** The route of `market`, or undefined when no cell owns it. */
  resolve(market: string): Route | undefined {
    const rec = this.store.markets.get(market);
    if (rec === undefined) return undefined;
    const cached = this.cache.get(rec);
    if (cached !== undefined) {
      if (cached.generation === this.store.generation) {
        this.hits.inc();
        return cached;
      }
      this.stale.inc();
    } else {
      this.misses.inc();
    }
    const route = this.build(this.everyMarketTo ?? rec.cell, rec.state, rec.epoch);
    if (experimentLive(rec.experiment, route.cellRecord)) route.experiment = this.arms(route, rec.experiment);
    const to = this.everyMarketTo === undefined ? shareMoveTarget(rec, this.store.cells, this.store.endpoints) : undefined;
    if (to !== undefined) route.shareMove = { spec: rec.shareMove!, to: this.build(to, 'active', rec.epoch) };
    this.cache.set(rec, route);
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

  /**
   * The two arms of an experiment: each the cell's passing instances of one color. A variant color
   * with none leaves its keys on the active color (as a shift to a color without instances does).
   */
  private arms(route: Route, spec: Experiment): NonNullable<Route['experiment']> {
    const ofColor = (color: string) => this.store.allEndpoints.filter((e) => e.cell === route.cell && e.color === color).sort(byEndpointId);
    const control = ofColor(route.cellRecord!.activeColor!);
    const variant = ofColor(spec.color);
    const arm = (endpoints: Endpoint[]): Route => ({ ...route, endpoints: endpoints.length > 0 ? endpoints : route.endpoints });
    return { spec, arms: { variant: variant.length > 0 ? arm(variant) : arm(control), control: arm(control) } };
  }

  /** Cached routes right now. */
  get size(): number {
    return this.cache.size;
  }
}
