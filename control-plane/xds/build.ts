/**
 * Builds the shared resources (everything but the per-node listener) from the routing
 * model. Incremental where it matters: with `changedMarkets`, a build looks at the changed
 * markets only (their scopes, and the count of markets per cell that decides which cells get
 * resources), so a move costs the same at 1,000 and at 100,000 markets; without, every market
 * is walked once and only scopes whose target changed are re-encoded.
 */
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import { colorWeights, type ColorWeight, type Endpoint } from '../../shared/routing-table.js';
import { experimentLive, shareMoveTarget } from '../../shared/experiment.js';
import { cellCluster, DEFAULT_CLUSTER_OPTIONS, shiftCluster, type ClusterOptions } from './resources/cluster.js';
import { cellLoadAssignment, shiftLoadAssignment, type DroppedEndpoint } from './resources/endpoint.js';
import {
  colorCluster,
  colorLoadAssignment,
  experimentRouteName,
  experimentRoutes,
  shareMoveRouteName,
  shareMoveRoutes,
} from './resources/experiment.js';
import { holdCluster, holdLoadAssignment } from './resources/hold.js';
import { FROZEN_ROUTE, GLOBAL_SCOPE, cellRouteName, marketScopeName } from './resources/names.js';
import { OverlayMap } from './cache/overlay-map.js';
import { hintChanges } from './cache/snapshot.js';
import type { Resource } from './resources/resource.js';
import { cellRoutes, frozenRoutes } from './resources/route.js';
import { anchorScope, globalScope, marketScope } from './resources/scoped-route.js';
import { CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE, type TypeUrl } from './resources/type-urls.js';

/** What the resources are built from (a routing table plus the hold endpoints). */
export interface BuildInput {
  readonly markets: ReadonlyMap<string, MarketRecord>;
  readonly cells: ReadonlyMap<string, CellRecord>;
  /** Passing endpoints of each cell's active color. */
  readonly endpoints: ReadonlyMap<string, readonly Endpoint[]>;
  /** Passing endpoints of the color a cell just flipped away from (EDS priority 1; ./flip-fallback.ts). */
  readonly fallbackEndpoints?: ReadonlyMap<string, readonly Endpoint[]>;
  readonly globalCell: string | undefined;
  /**
   * Markets whose record changed since the previous build; undefined = unknown (every market
   * is rescanned). With it, a build at 100,000 markets touches only the moved ones.
   */
  readonly changedMarkets?: ReadonlySet<string>;
  /** Control-plane HTTP endpoints that hold requests to frozen markets (used when holdMs > 0). */
  readonly holdEndpoints?: readonly Endpoint[];
  /** Every passing endpoint, each color (the one-color clusters of A/B experiments). */
  readonly allEndpoints?: readonly Endpoint[];
  /**
   * Markets whose live experiment's (or share move's) resources were published long enough ago for
   * their scope to use them (./experiment-warmup.ts); undefined: every live one.
   */
  readonly warmExperiments?: ReadonlySet<string>;
  /**
   * Passing endpoints of each cell's active color, before panic routing stands in remembered ones
   * (`endpoints` may hold those): a share move sends its share to a target with some, as the router
   * does. Undefined: `endpoints`.
   */
  readonly passingEndpoints?: ReadonlyMap<string, readonly Endpoint[]>;
}

/** Options of the builder. */
export interface BuildOptions {
  cluster: ClusterOptions;
  /** How long a request to a frozen market is held for its flip (0 = answer 503 at once). */
  holdMs: number;
}

/** The shared resources of one build, by type, plus what was left out. */
export interface SharedResources {
  types: Map<TypeUrl, ReadonlyMap<string, Resource>>;
  dropped: DroppedEndpoint[];
}

/** Whether the market's experiment gets Envoy resources: live on its cell, the market active, the cell not down. */
function experimentShown(rec: MarketRecord, cells: ReadonlyMap<string, CellRecord>): boolean {
  const cell = cells.get(rec.cell);
  return rec.state === 'active' && experimentLive(rec.experiment, cell) && cell?.state !== 'down';
}

function scopeTarget(market: string, rec: MarketRecord, input: BuildInput): string {
  if (rec.state === 'frozen') return FROZEN_ROUTE;
  const warm = input.warmExperiments?.has(market) ?? true;
  if (experimentShown(rec, input.cells) && warm) return experimentRouteName(market);
  // A share move's configuration is published while its target is known and not down (./experiment-warmup.ts
  // warms it); the scope uses it while the target also has a passing instance (shared/experiment.ts).
  if (warm && shareMoveTarget(rec, input.cells, input.passingEndpoints ?? input.endpoints) !== undefined) return shareMoveRouteName(market);
  return cellRouteName(rec.cell);
}

/** Builds shared resources, keeping encoded market scopes between builds. */
export class ResourceBuilder {
  private readonly opts: BuildOptions;
  /** The scopes of the last build (immutable once returned: a change copies it). */
  private scopes: ReadonlyMap<string, Resource> | undefined;
  /** Names of the anchor scopes of the last build (one per route configuration). */
  private anchors = new Set<string>();
  private readonly last = new Map<TypeUrl, ReadonlyMap<string, Resource>>();
  private readonly cellCache = new Map<string, { key: string; res: Resource[] }>();
  /** The cell of each market of the last build, and how many markets name each cell. */
  private marketCell = new Map<string, string>();
  private marketsPerCell = new Map<string, number>();
  /**
   * Markets whose record has an experiment or a share move (live or not): their scope depends on
   * cell records (and a share move's on the target's endpoints) too, so every build looks at them.
   */
  private experiments = new Set<string>();

  constructor(opts: Partial<BuildOptions> = {}) {
    this.opts = { cluster: opts.cluster ?? DEFAULT_CLUSTER_OPTIONS, holdMs: opts.holdMs ?? 0 };
  }

  /** Builds every shared resource for `input`. */
  build(input: BuildInput): SharedResources {
    const dropped: DroppedEndpoint[] = [];
    const clusters = new Map<string, Resource>();
    const endpoints = new Map<string, Resource>();
    const routes = new Map<string, Resource>();

    this.countMarketCells(input, this.scopes !== undefined && input.changedMarkets !== undefined);
    const cellIds = new Set<string>(input.cells.keys());
    for (const cell of this.marketsPerCell.keys()) cellIds.add(cell);
    const splits = new Map<string, readonly ColorWeight[]>();
    for (const cell of [...cellIds].sort()) {
      const record = input.cells.get(cell);
      const state = record?.state ?? 'active';
      const served = input.endpoints.get(cell) ?? [];
      // A weighted shift: the cell's route splits over its shift clusters (resources/route.ts).
      const split = colorWeights(served);
      if (split !== undefined) splits.set(cell, split);
      const key = split === undefined ? state : `${state} ${split.map((s) => s.weight).join(':')}`;
      const cached = this.cellCache.get(cell);
      let cl: Resource;
      let rc: Resource;
      // The shift clusters are cached with the cell's (encoded once per cell and state, not per build).
      let shift: Resource[];
      if (cached?.key === key) [cl, rc, ...shift] = cached.res as [Resource, Resource, ...Resource[]];
      else {
        cl = cellCluster(cell, this.opts.cluster);
        rc = cellRoutes(cell, state, split);
        shift = (['blue', 'green'] as const).map((color) => shiftCluster(cell, color, this.opts.cluster));
        this.cellCache.set(cell, { key, res: [cl, rc, ...shift] });
      }
      clusters.set(cl.name, cl);
      routes.set(rc.name, rc);
      const eds = cellLoadAssignment(cell, served, dropped, input.fallbackEndpoints?.get(cell));
      endpoints.set(eds.name, eds);
      if (record?.activeColor === undefined) continue;
      // Both colors' clusters whether split or not: a shift's first step then names clusters Envoy
      // has already warmed and health-checked (an endpoint it drops is reported once, above).
      for (const scl of shift) clusters.set(scl.name, scl);
      for (const color of ['blue', 'green'] as const) {
        const seds = shiftLoadAssignment(cell, color, input.allEndpoints ?? [], served);
        endpoints.set(seds.name, seds);
      }
    }
    this.addExperiments(input, clusters, endpoints, routes, dropped, splits);
    const frozen = frozenRoutes(this.opts.holdMs);
    routes.set(frozen.name, frozen);
    if (this.opts.holdMs > 0) {
      const hc = holdCluster(this.opts.cluster);
      clusters.set(hc.name, hc);
      const he = holdLoadAssignment(input.holdEndpoints ?? [], dropped);
      endpoints.set(he.name, he);
    }

    const byName = this.buildScopes(input, [...routes.keys()]);
    const types = new Map<TypeUrl, ReadonlyMap<string, Resource>>([
      [CLUSTER, this.keep(CLUSTER, clusters)],
      [ENDPOINT, this.keep(ENDPOINT, endpoints)],
      [ROUTE, this.keep(ROUTE, routes)],
      [SCOPED_ROUTE, byName],
    ]);
    return { types, dropped };
  }

  /**
   * Keeps `marketsPerCell` (every cell some market names gets a cluster, endpoints and routes):
   * recounted from every market without `changedMarkets`, else moved for the changed markets
   * only (walking 100,000 records per move made every build O(markets)).
   */
  private countMarketCells(input: BuildInput, incremental: boolean): void {
    if (!incremental) {
      this.marketCell = new Map();
      this.marketsPerCell = new Map();
      this.experiments = new Set();
      for (const [market, rec] of input.markets) if (rec.experiment || rec.shareMove) this.experiments.add(market);
    } else {
      for (const market of input.changedMarkets!) {
        const rec = input.markets.get(market);
        if (rec?.experiment || rec?.shareMove) this.experiments.add(market);
        else this.experiments.delete(market);
      }
    }
    const cellOf = this.marketCell;
    const counts = this.marketsPerCell;
    const count = (cell: string, n: 1 | -1) => {
      const c = (counts.get(cell) ?? 0) + n;
      if (c === 0) counts.delete(cell);
      else counts.set(cell, c);
    };
    if (!incremental) {
      for (const [market, rec] of input.markets) {
        cellOf.set(market, rec.cell);
        count(rec.cell, 1);
      }
      return;
    }
    for (const market of input.changedMarkets!) {
      const old = cellOf.get(market);
      const now = input.markets.get(market)?.cell;
      if (old === now) continue;
      if (old !== undefined) count(old, -1);
      if (now === undefined) cellOf.delete(market);
      else {
        count(now, 1);
        cellOf.set(market, now);
      }
    }
  }

  /**
   * The resources of live A/B experiments (resources/experiment.ts): a route configuration per
   * market, one-color clusters per cell; and of share moves whose target is known and not down: a
   * route configuration per market (the target's cluster is its cell cluster; the owner's part
   * split by color under a shift, `splits`).
   */
  private addExperiments(
    input: BuildInput,
    clusters: Map<string, Resource>,
    endpoints: Map<string, Resource>,
    routes: Map<string, Resource>,
    dropped: DroppedEndpoint[],
    splits: ReadonlyMap<string, readonly ColorWeight[]>,
  ): void {
    for (const market of [...this.experiments].sort()) {
      const rec = input.markets.get(market);
      const cell = rec === undefined ? undefined : input.cells.get(rec.cell);
      if (rec?.shareMove !== undefined && shareMoveTarget(rec, input.cells) !== undefined) {
        const rc = shareMoveRoutes(market, rec.cell, cell?.state ?? 'active', rec.shareMove, splits.get(rec.cell));
        routes.set(rc.name, rc);
      }
      if (rec === undefined || !experimentShown(rec, input.cells)) continue;
      const active = cell!.activeColor!;
      const rc = experimentRoutes(market, rec.cell, rec.experiment!, active);
      routes.set(rc.name, rc);
      for (const color of [active, rec.experiment!.color]) {
        const cl = colorCluster(rec.cell, color, this.opts.cluster);
        if (clusters.has(cl.name)) continue;
        clusters.set(cl.name, cl);
        const eds = colorLoadAssignment(rec.cell, color, input.allEndpoints ?? [], input.endpoints.get(rec.cell) ?? [], dropped);
        endpoints.set(eds.name, eds);
      }
    }
  }

  /** The previous map of `type` when `next` has the same content (so snapshots can tell nothing changed). */
  private keep(type: TypeUrl, next: Map<string, Resource>): ReadonlyMap<string, Resource> {
    const prev = this.last.get(type);
    if (prev !== undefined && prev.size === next.size && [...next].every(([n, r]) => prev.get(n)?.version === r.version)) return prev;
    this.last.set(type, next);
    return next;
  }

  /**
   * The SRDS resources. With `changedMarkets`, only those markets are looked at and the new
   * map is the previous one plus the changes (an OverlayMap: no copy of 100,000 entries; no
   * change at all returns the very same map, so every node's snapshot shares it). Without,
   * every market is checked (encoded resources of unchanged markets are reused).
   */
  private buildScopes(input: BuildInput, routeNames: string[]): ReadonlyMap<string, Resource> {
    const previous = this.scopes;
    const changes = new Map<string, Resource | undefined>();
    let full: Map<string, Resource> | undefined;
    const current = (name: string) => (changes.has(name) ? changes.get(name) : (full ?? previous)?.get(name));
    if (previous !== undefined && input.changedMarkets !== undefined) {
      // Experiment markets too: a cell's color flip turns their experiment on or off.
      for (const market of new Set([...input.changedMarkets, ...this.experiments])) {
        const name = marketScopeName(market);
        const rec = input.markets.get(market);
        const old = previous.get(name);
        if (rec === undefined) {
          if (old !== undefined) changes.set(name, undefined);
          continue;
        }
        const target = scopeTarget(market, rec, input);
        if (old?.refs[0]?.name !== target) changes.set(name, marketScope(market, target));
      }
    } else {
      full = new Map<string, Resource>();
      for (const [market, rec] of input.markets) {
        const name = marketScopeName(market);
        const target = scopeTarget(market, rec, input);
        const old = previous?.get(name);
        full.set(name, old !== undefined && old.refs[0]?.name === target ? old : marketScope(market, target));
      }
    }
    const g = input.globalCell === undefined ? undefined : globalScope(cellRouteName(input.globalCell));
    const oldG = current(GLOBAL_SCOPE);
    if (g === undefined) {
      if (oldG !== undefined) changes.set(GLOBAL_SCOPE, undefined);
    } else if (oldG?.version !== g.version) changes.set(GLOBAL_SCOPE, g);
    // Anchors: one scope per route configuration, so every configuration stays loaded in Envoy.
    const anchors = new Set<string>();
    for (const rc of routeNames) {
      const a = anchorScope(rc);
      anchors.add(a.name);
      if (current(a.name)?.version !== a.version) changes.set(a.name, a);
    }
    for (const name of this.anchors) if (!anchors.has(name) && current(name) !== undefined) changes.set(name, undefined);
    this.anchors = anchors;

    let scopes: ReadonlyMap<string, Resource>;
    if (full !== undefined) {
      for (const [n, r] of changes) {
        if (r === undefined) full.delete(n);
        else full.set(n, r);
      }
      scopes = full;
    } else if (changes.size === 0) {
      scopes = previous!;
    } else {
      scopes = OverlayMap.of(previous!, changes);
      hintChanges(scopes, { base: previous!, names: new Set(changes.keys()) });
    }
    this.scopes = scopes;
    return scopes;
  }
}
