/**
 * A/B experiments on Envoy (docs/experiments.md). A market with a live experiment gets its own
 * route configuration `xp:<market>` (its scope points there instead of at its cell's): its last
 * route sends to the cell's cluster, as the cell's own configuration does, and carries the
 * experiment in its metadata (key header, threshold in buckets). The edge's second Lua filter
 * ({@link EXPERIMENT_LUA}) reads that metadata, hashes the key header's value with the router's
 * function (shared/experiment.ts `fnv1a32`, here in Lua), sets the internal arm header and clears
 * the route cache; the route is looked up again and one of the two first routes matches, to a
 * cluster holding one color of the cell only (`cell:<cell>:<color>`). Those clusters' stats are
 * the per-arm error rate and latency on Envoy's side.
 *
 * A market move by share (docs/weighted-shifts.md) uses the same filter and metadata: its route
 * configuration `sm:<market>` sends the `variant` arm (keys below the threshold) to the target
 * cell's own cluster, everything else to the owning cell's, each route naming its cell.
 */
import { CELL_HEADER, EDGE_PATH_PREFIX } from '../../../shared/market.js';
import type { Experiment, ShareMove } from '../../../shared/experiment.js';
import { EXPERIMENT_BUCKETS, experimentThreshold } from '../../../shared/experiment.js';
import type { ColorWeight, Endpoint } from '../../../shared/routing-table.js';
import { oneColorCluster, type ClusterOptions } from './cluster.js';
import { loadAssignment, type DroppedEndpoint } from './endpoint.js';
import { setHeader } from './errors.js';
import { clusterName } from './names.js';
import { duration, toStruct } from './proto.js';
import { makeResource, type Resource, type ResourceRef } from './resource.js';
import { ROUTE_TIMEOUT_MS, STRIPPED_REQUEST_HEADERS, cellRoute } from './route.js';
import { CLUSTER, ROUTE } from './type-urls.js';

/** The name of the edge's experiment Lua filter; the route metadata it reads sits under it. */
export const EXPERIMENT_FILTER = 'cellsim.experiment';

/** The internal header the experiment filter sets (`variant` or `control`); never forwarded, never a client's. */
export const ARM_HEADER = 'x-cellsim-arm';

type Color = 'blue' | 'green';

/** The route configuration of a market in an experiment. */
export function experimentRouteName(market: string): string {
  return `xp:${market}`;
}

/** The cluster (and EDS service) holding one color of a cell. */
export function colorClusterName(cell: string, color: Color): string {
  return `${clusterName(cell)}:${color}`;
}

/**
 * The Lua source of the experiment filter. FNV-1a in 32 bits with doubles: LuaJIT's `bit.bxor`
 * gives a signed 32-bit result (made unsigned again), and the multiply by the FNV prime
 * 2^24 + 403 is split so no intermediate exceeds 2^53.
 */
export const EXPERIMENT_LUA = `
local function fnv1a(s)
  local h = 2166136261
  for i = 1, #s do
    h = bit.bxor(h, string.byte(s, i))
    if h < 0 then h = h + 4294967296 end
    h = (h * 403 + (h % 256) * 16777216) % 4294967296
  end
  return h
end
function envoy_on_request(h)
  local hs = h:headers()
  hs:remove("${ARM_HEADER}")
  local md = h:metadata()
  local name = md:get("header")
  local threshold = md:get("threshold")
  if name == nil or threshold == nil then return end
  if hs:getNumValues(name) ~= 1 then return end
  local v = hs:getAtIndex(name, 0)
  if v == nil or v == "" then return end
  if fnv1a(v) % ${EXPERIMENT_BUCKETS} < threshold then
    hs:add("${ARM_HEADER}", "variant")
  else
    hs:add("${ARM_HEADER}", "control")
  end
  h:clearRouteCache()
end
`;

function armRoute(arm: 'variant' | 'control', cluster: string): Record<string, unknown> {
  return {
    name: arm,
    match: { prefix: EDGE_PATH_PREFIX, headers: [{ name: ARM_HEADER, string_match: { exact: arm } }] },
    route: {
      cluster,
      timeout: duration(ROUTE_TIMEOUT_MS),
      retry_policy: { retry_on: 'connect-failure,refused-stream', num_retries: { value: 2 } },
    },
  };
}

/** The route configuration `xp:<market>` of a market whose experiment is live on `cell` (active color `active`). */
export function experimentRoutes(market: string, cell: string, spec: Experiment, active: Color): Resource {
  const name = experimentRouteName(market);
  const variant = colorClusterName(cell, spec.color);
  const control = colorClusterName(cell, active);
  const whole = clusterName(cell);
  const routes = [
    armRoute('variant', variant),
    armRoute('control', control),
    {
      name: 'cell',
      match: { prefix: EDGE_PATH_PREFIX },
      metadata: {
        filter_metadata: { [EXPERIMENT_FILTER]: toStruct({ header: spec.header, threshold: experimentThreshold(spec.percent) }) },
      },
      route: {
        cluster: whole,
        timeout: duration(ROUTE_TIMEOUT_MS),
        retry_policy: { retry_on: 'connect-failure,refused-stream', num_retries: { value: 2 } },
      },
    },
  ];
  const refs: ResourceRef[] = [variant, control, whole].map((n) => ({ type: CLUSTER, name: n }));
  const vhost = {
    name: market,
    domains: ['*'],
    routes,
    request_headers_to_remove: [...STRIPPED_REQUEST_HEADERS, ARM_HEADER],
    response_headers_to_add: [setHeader(CELL_HEADER, cell)],
  };
  return makeResource(ROUTE, name, { name, virtual_hosts: [vhost] }, refs);
}

/** The CDS resource of one color of a cell for its experiments: the cell's cluster settings, its own EDS name. */
export function colorCluster(cell: string, color: Color, o: ClusterOptions): Resource {
  return oneColorCluster(colorClusterName(cell, color), cell, o);
}

/**
 * The EDS resource of one color of a cell from every passing endpoint: that color's, or, when it
 * has none, `fallback` (the cell's served endpoints), as the router's arms do.
 */
export function colorLoadAssignment(
  cell: string,
  color: Color,
  all: readonly Endpoint[],
  fallback: readonly Endpoint[],
  dropped: DroppedEndpoint[],
): Resource {
  const own = all.filter((e) => e.cell === cell && e.color === color).map(({ weight: _w, ...e }) => e);
  return loadAssignment(colorClusterName(cell, color), own.length > 0 ? own : fallback.map(({ weight: _w, ...e }) => e), dropped);
}

/** The route configuration of a market moving by share. */
export function shareMoveRouteName(market: string): string {
  return `sm:${market}`;
}

/**
 * The route configuration `sm:<market>` of a market whose share move's target can serve: keyed
 * requests the experiment filter marks `variant` go to cluster `cell:<to>`, every other one to the
 * owning cell as its own configuration sends it (split by color under a weighted shift; 503
 * cell_unavailable when `down`). `x-cell-id` is
 * set per route (the cell that serves), none on the virtual host.
 */
export function shareMoveRoutes(
  market: string,
  cell: string,
  state: 'active' | 'draining' | 'down',
  spec: ShareMove,
  split?: readonly ColorWeight[],
): Resource {
  const name = shareMoveRouteName(market);
  const moved = { ...armRoute('variant', clusterName(spec.to)), name: 'moved', response_headers_to_add: [setHeader(CELL_HEADER, spec.to)] };
  const own = cellRoute(cell, state, split);
  const rest = {
    ...own.route,
    metadata: { filter_metadata: { [EXPERIMENT_FILTER]: toStruct({ header: spec.header, threshold: experimentThreshold(spec.percent) }) } },
    response_headers_to_add: [...((own.route.response_headers_to_add as unknown[] | undefined) ?? []), setHeader(CELL_HEADER, cell)],
  };
  const refs: ResourceRef[] = [{ type: CLUSTER, name: clusterName(spec.to) }, ...own.refs];
  const vhost = {
    name: market,
    domains: ['*'],
    routes: [moved, rest],
    request_headers_to_remove: [...STRIPPED_REQUEST_HEADERS, ARM_HEADER],
  };
  return makeResource(ROUTE, name, { name, virtual_hosts: [vhost] }, refs);
}
