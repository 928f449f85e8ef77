/**
 * RDS: one route configuration per cell (everything to the cell's cluster, internal headers
 * stripped, `x-cell-id` set on the answer), one for frozen markets, and a cell marked `down`
 * answers 503 cell_unavailable by itself. Markets do not appear here: the scoped routes
 * (scoped-route.ts) map each market to one of these few configurations, so a market move
 * never resends a route table.
 */
import { CELL_HEADER, EDGE_PATH_PREFIX, EDGE_REDIRECT_HEADER } from '../../../shared/market.js';
import { directError, setHeader } from './errors.js';
import type { ColorWeight } from '../../../shared/routing-table.js';
import { FROZEN_ROUTE, HOLD_CLUSTER, INVALID_HEADER, cellRouteName, clusterName, shiftClusterName } from './names.js';
import { duration } from './proto.js';
import { makeResource, type Resource, type ResourceRef } from './resource.js';
import { CLUSTER, ROUTE } from './type-urls.js';

/** The header the frozen route adds: marks a request for the control plane's hold endpoint, with the bound in ms. */
export const HOLD_MS_HEADER = 'x-cellsim-hold-ms';

/**
 * How Envoy follows a `307` to the same URL (the hold endpoint's release, a frozen cell's refusal):
 * it routes the request again, at most three times (a cell's 307, then the hold's), and never to
 * another scheme (a redirect of another scheme goes to the client).
 */
const INTERNAL_REDIRECT = {
  redirect_response_codes: [307],
  max_internal_redirects: { value: 3 },
  allow_cross_scheme_redirect: false,
};

/**
 * Headers a client may not send to a cell (docs/contracts.md §Request contract: no client may pick a
 * cell). The scope header stays: the listener's Lua filter has already replaced a client's with
 * Envoy's own (`m/<market>`), and Envoy removes a header from the request it routed, so a redirect
 * a cell answers (`307`, {@link INTERNAL_REDIRECT}) would find no scope, hence no route, without it.
 */
export const STRIPPED_REQUEST_HEADERS = [CELL_HEADER, INVALID_HEADER, HOLD_MS_HEADER];

/**
 * Request timeout of a routed request: a hung cell's requests end as 504 upstream_timeout,
 * which outlier detection counts (cluster.ts) to eject the cell. Well above a slow cell's
 * answers (the cell-latency drill adds 600 ± 100 ms), so a slow cell is not ejected.
 */
export const ROUTE_TIMEOUT_MS = 2_000;

/**
 * Every route matches only under `/v1/` (docs/contracts.md §Request contract): the Lua filter
 * gives no scope to another path, and should one still reach a route configuration it matches
 * no route (NR), which the listener answers `404 not_found`. Never sent to a cell.
 */
const V1 = { prefix: EDGE_PATH_PREFIX };

function virtualHost(
  name: string,
  routes: unknown[],
  cellHeader: string | undefined,
  strip = STRIPPED_REQUEST_HEADERS,
): Record<string, unknown> {
  return {
    name,
    domains: ['*'],
    routes,
    request_headers_to_remove: strip,
    response_headers_to_add: cellHeader === undefined ? [] : [setHeader(CELL_HEADER, cellHeader)],
  };
}

/**
 * The route configuration of a cell. Retries only where the request was never sent
 * (connect failure, refused stream), so non-idempotent requests are never sent twice.
 */
export function cellRoutes(cell: string, state: 'active' | 'draining' | 'down', split?: readonly ColorWeight[]): Resource {
  const name = cellRouteName(cell);
  const { route, refs } = cellRoute(cell, state, split);
  return makeResource(ROUTE, name, { name, virtual_hosts: [virtualHost(cell, [route], cell)] }, refs);
}

/**
 * The route that sends every `/v1/` request to a cell's cluster (a `down` cell: 503
 * cell_unavailable by itself), and the clusters it names. Under a weighted shift (`split`,
 * shared/routing-table.ts colorWeights) it splits them over the cell's shift clusters by
 * weight (Envoy's weighted clusters, docs/weighted-shifts.md): each color keeps its share even
 * while Envoy's own health checking or outlier detection has ejected every host of the other.
 */
export function cellRoute(
  cell: string,
  state: 'active' | 'draining' | 'down',
  split?: readonly ColorWeight[],
): { route: Record<string, unknown>; refs: ResourceRef[] } {
  if (state === 'down') return { route: { name: 'down', match: V1, ...directError('cell_unavailable', `cell ${cell} is down`) }, refs: [] };
  const names = split === undefined ? [clusterName(cell)] : split.map((s) => shiftClusterName(cell, s.color));
  const target =
    split === undefined
      ? { cluster: clusterName(cell) }
      : { weighted_clusters: { clusters: split.map((s) => ({ name: shiftClusterName(cell, s.color), weight: { value: s.weight } })) } };
  const route = {
    name: 'cell',
    match: V1,
    route: {
      ...target,
      timeout: duration(ROUTE_TIMEOUT_MS),
      retry_policy: { retry_on: 'connect-failure,refused-stream', num_retries: { value: 2 } },
      // A write that reached a cell after the market froze under it: the cell answers 307 to the
      // same URL and Envoy routes it again, now to the frozen route's hold (docs/contracts.md §Request contract).
      internal_redirect_policy: INTERNAL_REDIRECT,
    },
    request_headers_to_add: [setHeader(EDGE_REDIRECT_HEADER, '307')],
  };
  return { route, refs: names.map((name) => ({ type: CLUSTER, name })) };
}

/**
 * The route configuration of frozen markets. With `holdMs` > 0 the request waits at the
 * control plane's hold endpoint (marked by the hold header, original path kept) until the
 * market's flip has reached this Envoy, which then answers 307 back to the same URL: Envoy follows it internally (the route is looked up
 * again, now to the new owner) and the client never sees the redirect. Past the bound the
 * hold endpoint answers 503 market_migrating. With `holdMs` 0, 503 at once.
 */
export function frozenRoutes(holdMs: number): Resource {
  const refs: ResourceRef[] = [];
  let route: Record<string, unknown>;
  if (holdMs > 0) {
    refs.push({ type: CLUSTER, name: HOLD_CLUSTER });
    route = {
      name: 'hold',
      match: V1,
      route: {
        cluster: HOLD_CLUSTER,
        timeout: duration(holdMs + 5000),
        // A replica that died since Consul's last check refuses the connection: try another.
        retry_policy: { retry_on: 'connect-failure,refused-stream', num_retries: { value: 2 } },
        internal_redirect_policy: INTERNAL_REDIRECT,
      },
      request_headers_to_add: [
        { header: { key: 'x-cellsim-hold-ms', value: String(holdMs) }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      ],
    };
  } else {
    route = { name: 'frozen', match: V1, ...directError('market_migrating', 'market is being migrated; retry shortly') };
  }
  return makeResource(
    ROUTE,
    FROZEN_ROUTE,
    { name: FROZEN_ROUTE, virtual_hosts: [virtualHost('frozen', [route], undefined, [CELL_HEADER])] },
    refs,
  );
}
