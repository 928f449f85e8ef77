/** Resource names and internal header names, in one place (every builder and test reads them). */

/** The cluster (and EDS service) of a cell. */
export function clusterName(cell: string): string {
  return `cell:${cell}`;
}

/**
 * The cluster (and EDS service) of one color of a cell that a weighted shift's route splits over
 * (docs/weighted-shifts.md); an experiment's arms have their own (`cell:<cell>:<color>`), so each
 * one's Envoy stats count its own requests only.
 */
export function shiftClusterName(cell: string, color: 'blue' | 'green'): string {
  return `${clusterName(cell)}:shift:${color}`;
}

/** The route configuration that sends everything to a cell. */
export function cellRouteName(cell: string): string {
  return `cell:${cell}`;
}

/** The route configuration of frozen markets (503 market_migrating, or held until the flip). */
export const FROZEN_ROUTE = 'frozen';

/** The scoped route configuration of a market. */
export function marketScopeName(market: string): string {
  return `market:${market}`;
}

/** The scoped route configuration of `/v1/global/`. */
export const GLOBAL_SCOPE = 'global';

/** The listener of the edge. */
export const LISTENER_NAME = 'edge';

/** The internal header the Lua filter sets and the scope key builder reads; never forwarded. */
export const SCOPE_HEADER = 'x-cellsim-scope';

/** The internal header the Lua filter sets on a malformed market (read by the invalid_market mapper). */
export const INVALID_HEADER = 'x-cellsim-invalid-market';

/** The internal header the Lua filter sets on a non-canonical path (read by the invalid_request mapper). */
export const INVALID_PATH_HEADER = 'x-cellsim-invalid-path';

/** The scope key of a market: prefixed so no client-chosen market can name the global scope. */
export function marketScopeKey(market: string): string {
  return `m/${market}`;
}

/** The scope key of `/v1/global/` requests. */
export const GLOBAL_SCOPE_KEY = 'g';

/**
 * The anchor scope of a route configuration: a scope no request can select (the Lua filter
 * only makes `g` and `m/<market>` keys) that keeps Envoy subscribed to every route
 * configuration, so a market scope switched to it never meets an unloaded one (404).
 */
export function anchorScopeName(routeConfig: string): string {
  return `route:${routeConfig}`;
}

/** The scope key of an anchor scope (`r/` prefix: never produced from a request). */
export function anchorScopeKey(routeConfig: string): string {
  return `r/${routeConfig}`;
}

/** The statically configured cluster (in the bootstrap) that reaches the control plane. */
export const XDS_CLUSTER = 'cellsim_xds';

/** The cluster of the control plane's hold endpoint (frozen markets wait there for their flip). */
export const HOLD_CLUSTER = 'cellsim:hold';
