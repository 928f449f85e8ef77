/**
 * The readers' way into Envoy's admin interface across hosts
 * (docs/security.md §Envoy's admin across hosts). Envoy's admin has neither TLS nor authentication, so under `cellctl up --hosts
 * --tls` it listens on loopback only, and an ordinary static listener on the host's address
 * serves the few read-only admin paths remote readers use, in mutual TLS with the cellsim CA,
 * routed to a static cluster that points at the loopback admin address. Anything else on that
 * listener gets Envoy's own `404`; a client without a certificate of the CA naming one of
 * {@link ADMIN_TLS_CLIENTS} fails the handshake.
 */
import { identityUri, type Role } from '../../shared/pki/names.js';
import { fileSdsContext, type FileSecretPaths } from './file-sds.js';

/** The admin paths remote readers use: the supervisor's readiness and liveness, the stats scrapes. */
export const ADMIN_TLS_PATHS = ['/ready', '/stats/prometheus'] as const;

/** Who may read them: the supervisor (its probes), the control plane (the console; `cellctl experiment status`). */
export const ADMIN_TLS_CLIENTS: readonly Role[] = ['supervisor', 'control-plane'];

/** The static cluster that reaches the admin interface on loopback. */
export const ADMIN_CLUSTER = 'envoy-admin-loopback';

/** The static listener serving {@link ADMIN_TLS_PATHS} in mutual TLS. */
export const ADMIN_TLS_LISTENER = 'admin-tls';

/** Where the TLS listener listens, which loopback port the admin has, and Envoy's certificate and the CA (secret files). */
export interface AdminTlsOptions {
  listen: { address: string; port: number };
  adminPort: number;
  secrets: FileSecretPaths;
}

function downstreamTls(secrets: FileSecretPaths): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      require_client_certificate: true,
      // Envoy's certificate and the CA by file-based SDS, so a rotated leaf or a new CA reaches the listener.
      common_tls_context: fileSdsContext(
        secrets,
        ADMIN_TLS_CLIENTS.map((r) => identityUri(r)),
      ),
    },
  };
}

/** A GET of exactly `path` (any query string) to the loopback admin. */
function readRoute(path: string): Record<string, unknown> {
  return {
    match: { path, headers: [{ name: ':method', string_match: { exact: 'GET' } }] },
    route: { cluster: ADMIN_CLUSTER, timeout: '5s' },
  };
}

/** The static listener and cluster (JSON-able) to add to the bootstrap's `static_resources`. */
export function adminTlsResources(o: AdminTlsOptions): { listener: Record<string, unknown>; cluster: Record<string, unknown> } {
  const listener = {
    name: ADMIN_TLS_LISTENER,
    address: { socket_address: { address: o.listen.address, port_value: o.listen.port } },
    filter_chains: [
      {
        transport_socket: downstreamTls(o.secrets),
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: ADMIN_TLS_LISTENER.replace('-', '_'),
              normalize_path: true,
              merge_slashes: true,
              route_config: {
                name: ADMIN_TLS_LISTENER,
                virtual_hosts: [{ name: ADMIN_TLS_LISTENER, domains: ['*'], routes: ADMIN_TLS_PATHS.map(readRoute) }],
              },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                },
              ],
            },
          },
        ],
      },
    ],
  };
  const cluster = {
    name: ADMIN_CLUSTER,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: ADMIN_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: o.adminPort } } } }] }],
    },
  };
  return { listener, cluster };
}
