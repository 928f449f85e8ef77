/**
 * The xDS resource types cellsim serves, their type URLs in one place, and the fixed send
 * order (go-control-plane's pkg/resource): clusters, endpoints, listeners, routes, then the
 * scoped routes that name those routes.
 */

export const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
export const LISTENER = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const ROUTE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const SCOPED_ROUTE = 'type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration';
/** SDS: the certificates a cell cluster's transport socket names (upstream-tls.ts). */
export const SECRET = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** A type URL cellsim serves. */
export type TypeUrl = typeof CLUSTER | typeof ENDPOINT | typeof LISTENER | typeof ROUTE | typeof SCOPED_ROUTE | typeof SECRET;

/** Send order: CDS → EDS → LDS → RDS → SRDS (a resource is sent before anything that names it). */
export const SEND_ORDER: readonly TypeUrl[] = [CLUSTER, ENDPOINT, LISTENER, ROUTE, SCOPED_ROUTE, SECRET];

/** Short names for logs, metrics labels and /xds/status. */
export const SHORT_NAME: Record<TypeUrl, string> = {
  [CLUSTER]: 'cds',
  [ENDPOINT]: 'eds',
  [LISTENER]: 'lds',
  [ROUTE]: 'rds',
  [SCOPED_ROUTE]: 'srds',
  [SECRET]: 'sds',
};

/** Types a client subscribes to as a whole (wildcard) rather than by name. */
export const WILDCARD_TYPES: ReadonlySet<TypeUrl> = new Set<TypeUrl>([CLUSTER, LISTENER, SCOPED_ROUTE]);

/** True when `url` is a type cellsim serves. */
export function isTypeUrl(url: string): url is TypeUrl {
  return url in SHORT_NAME;
}

/** The protobuf message name behind a type URL. */
export function messageName(url: TypeUrl): string {
  return url.slice(url.lastIndexOf('/') + 1);
}
