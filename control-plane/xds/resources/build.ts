/**
 * Builds the shared resources (everything but the per-node listener) from the routing
 * model. Incremental where it matters: a market's scope is re-encoded only when its target
 * route configuration changed, so a rebuild at 100,000 markets costs a map walk, not
 * 100,000 encodings.
 */
import type { CellRecord, MarketRecord } from '../../../shared/kv.js';
import type { Endpoint } from '../../../shared/routing-table.js';
import { cellCluster, DEFAULT_CLUSTER_OPTIONS, type ClusterOptions } from './cluster.js';
import { cellLoadAssignment, type DroppedEndpoint } from './endpoint.js';
import { holdCluster, holdLoadAssignment } from './hold.js';
import { FROZEN_ROUTE, cellRouteName } from './names.js';
import type { Resource } from './resource.js';
import { cellRoutes, frozenRoutes } from './route.js';
import { globalScope, marketScope } from './scoped-route.js';
import { CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE, type TypeUrl } from './type-urls.js';

/** What the resources are built from (a routing table plus the hold endpoints). */
export interface BuildInput {
  readonly markets: ReadonlyMap<string, MarketRecord>;
  readonly cells: ReadonlyMap<string, CellRecord>;
  /** Passing endpoints of each cell's active color. */
  readonly endpoints: ReadonlyMap<string, readonly Endpoint[]>;
  readonly globalCell: string | undefined;
  /** Control-plane HTTP endpoints that hold requests to frozen markets (used when holdMs > 0). */
  readonly holdEndpoints?: readonly Endpoint[];
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

/** Builds shared resources, keeping encoded market scopes between builds. */
export class ResourceBuilder {
  private readonly opts: BuildOptions;
  private scopes = new Map<string, Resource>();
  private readonly cellCache = new Map<string, { key: string; res: Resource[] }>();

  constructor(opts: Partial<BuildOptions> = {}) {
    this.opts = { cluster: opts.cluster ?? DEFAULT_CLUSTER_OPTIONS, holdMs: opts.holdMs ?? 0 };
  }

  /** Builds every shared resource for `input`. */
  build(input: BuildInput): SharedResources {
    const dropped: DroppedEndpoint[] = [];
    const clusters = new Map<string, Resource>();
    const endpoints = new Map<string, Resource>();
    const routes = new Map<string, Resource>();
    const scopes = new Map<string, Resource>();

    const cellIds = new Set<string>(input.cells.keys());
    for (const m of input.markets.values()) cellIds.add(m.cell);
    for (const cell of [...cellIds].sort()) {
      const state = input.cells.get(cell)?.state ?? 'active';
      const cached = this.cellCache.get(cell);
      let cl: Resource;
      let rc: Resource;
      if (cached?.key === state) [cl, rc] = cached.res as [Resource, Resource];
      else {
        cl = cellCluster(cell, this.opts.cluster);
        rc = cellRoutes(cell, state);
        this.cellCache.set(cell, { key: state, res: [cl, rc] });
      }
      clusters.set(cl.name, cl);
      routes.set(rc.name, rc);
      const eds = cellLoadAssignment(cell, input.endpoints.get(cell) ?? [], dropped);
      endpoints.set(eds.name, eds);
    }
    const frozen = frozenRoutes(this.opts.holdMs);
    routes.set(frozen.name, frozen);
    if (this.opts.holdMs > 0) {
      const hc = holdCluster(this.opts.cluster);
      clusters.set(hc.name, hc);
      const he = holdLoadAssignment(input.holdEndpoints ?? [], dropped);
      endpoints.set(he.name, he);
    }

    const previous = this.scopes;
    for (const [market, rec] of input.markets) {
      const target = rec.state === 'frozen' ? FROZEN_ROUTE : cellRouteName(rec.cell);
      const old = previous.get(market);
      const res = old !== undefined && old.refs[0]?.name === target ? old : marketScope(market, target);
      scopes.set(market, res);
    }
    this.scopes = scopes;
    const byName = new Map<string, Resource>();
    for (const r of scopes.values()) byName.set(r.name, r);
    if (input.globalCell !== undefined) {
      const g = globalScope(cellRouteName(input.globalCell));
      byName.set(g.name, g);
    }

    const types = new Map<TypeUrl, ReadonlyMap<string, Resource>>([
      [CLUSTER, clusters],
      [ENDPOINT, endpoints],
      [ROUTE, routes],
      [SCOPED_ROUTE, byName],
    ]);
    return { types, dropped };
  }
}
