/**
 * SRDS: one small ScopedRouteConfiguration per market (key = the market, value = the name of
 * its cell's route configuration) plus one for `/v1/global/`. Envoy matches the scope key in
 * a hash map (O(1) for 100,000 markets), and a market move changes exactly one of these
 * resources, which delta xDS sends alone.
 */
import { MARKET_ID_RE } from '../../../shared/market.js';
import { GLOBAL_SCOPE, GLOBAL_SCOPE_KEY, anchorScopeKey, anchorScopeName, marketScopeKey, marketScopeName } from './names.js';
import { makeResource, type Resource } from './resource.js';
import { ROUTE, SCOPED_ROUTE } from './type-urls.js';

function scope(name: string, key: string, routeConfig: string): Resource {
  return makeResource(SCOPED_ROUTE, name, { name, route_configuration_name: routeConfig, key: { fragments: [{ string_key: key }] } }, [
    { type: ROUTE, name: routeConfig },
  ]);
}

/** The scope of a market, pointing at `routeConfig`; throws on a market ID the contract forbids. */
export function marketScope(market: string, routeConfig: string): Resource {
  if (!MARKET_ID_RE.test(market)) throw new Error(`market '${market}' is not a valid market id`);
  return scope(marketScopeName(market), marketScopeKey(market), routeConfig);
}

/** The scope of `/v1/global/` requests, pointing at the global cell's route configuration. */
export function globalScope(routeConfig: string): Resource {
  return scope(GLOBAL_SCOPE, GLOBAL_SCOPE_KEY, routeConfig);
}

/**
 * The anchor scope of a route configuration (make-before-break): Envoy subscribes to a route
 * configuration only while some scope names it, and a scope switched to a configuration it
 * has not loaded yet matches no route (404) until RDS delivers it. Anchors keep every route
 * configuration (each cell's, and `frozen`) subscribed and loaded before any market needs it.
 */
export function anchorScope(routeConfig: string): Resource {
  return scope(anchorScopeName(routeConfig), anchorScopeKey(routeConfig), routeConfig);
}
