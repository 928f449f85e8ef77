/**
 * The Envoy bootstrap `cellctl envoy` writes: node identity (with its listen address in the
 * metadata, from which the control plane builds the node's own listener), admin on loopback,
 * one static cluster to the control plane (HTTP/2), and ADS over gRPC (delta by default,
 * state of the world on request) for clusters and listeners; everything else follows by ADS.
 * An overload manager guards the process (docs/xds.md §Edge hardening): a fixed heap bound with
 * shrink-heap and stop-accepting-requests actions (new requests answered 503 overloaded), and a
 * limit on downstream connections across listeners.
 */
import { isIP } from 'node:net';
import { XDS_CLUSTER } from './resources/names.js';
import { META_LISTEN_ADDRESS, META_LISTEN_PORT } from './publisher.js';
import { identityUri } from '../../shared/pki/names.js';
import { fileSdsContext, type FileSecretPaths } from './file-sds.js';

export { XDS_CA_SECRET, XDS_CLIENT_SECRET, xdsCaSecretFile, xdsClientSecretFile, type FileSecretPaths } from './file-sds.js';
import { adminTlsResources } from './admin-tls.js';

/** Options of {@link envoyBootstrap}. */
export interface BootstrapOptions {
  nodeId: string;
  listen: { address: string; port: number };
  adminPort: number;
  /** Admin listener address (default 127.0.0.1). */
  adminAddress?: string;
  xds: { host: string; port: number };
  /** `delta` (incremental xDS, the default) or `sotw` (state of the world). */
  api: 'delta' | 'sotw';
  /** Envoy node cluster (default `cellsim-edge`). */
  cluster?: string;
  /** Heap bound of the overload manager, in bytes (default {@link DEFAULT_MAX_HEAP_BYTES}). */
  maxHeapBytes?: number;
  /** Most downstream connections at once, all listeners together (default {@link DEFAULT_MAX_DOWNSTREAM_CONNECTIONS}). */
  maxDownstreamConnections?: number;
  /**
   * Reach the control plane over TLS, checking that it is the control plane (docs/tls.md §xDS over TLS).
   * The client certificate and key, and the CA, come by file-based SDS from the secret files
   * (file-sds.ts), so a rotated pair or CA reaches new xDS connections without a restart.
   */
  xdsTls?: FileSecretPaths;
  /**
   * Serve the remote readers' admin paths in mutual TLS at `listen` with these files, the admin
   * itself on loopback only (docs/security.md §Envoy's admin across hosts).
   */
  adminTls?: { listen: { address: string; port: number }; secrets: FileSecretPaths };
}

/** Default heap bound: 1 GiB, five times Envoy's RSS at 100,000 markets (bench/xds.md). */
export const DEFAULT_MAX_HEAP_BYTES = 1024 * 1024 * 1024;
/** Default bound on downstream connections. */
export const DEFAULT_MAX_DOWNSTREAM_CONNECTIONS = 10_000;
/** Heap pressure (share of the bound) at which Envoy returns free memory to the system. */
export const SHRINK_HEAP_AT = 0.9;
/** Heap pressure at which Envoy answers new requests 503 overloaded. */
export const STOP_REQUESTS_AT = 0.95;

const FIXED_HEAP = 'envoy.resource_monitors.fixed_heap';
const CONNECTIONS = 'envoy.resource_monitors.global_downstream_max_connections';

/** The overload manager of the bootstrap. */
export function overloadManager(maxHeapBytes: number, maxConnections: number): Record<string, unknown> {
  return {
    refresh_interval: '0.25s',
    resource_monitors: [
      {
        name: FIXED_HEAP,
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig',
          max_heap_size_bytes: maxHeapBytes,
        },
      },
      {
        name: CONNECTIONS,
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig',
          max_active_downstream_connections: maxConnections,
        },
      },
    ],
    actions: [
      { name: 'envoy.overload_actions.shrink_heap', triggers: [{ name: FIXED_HEAP, threshold: { value: SHRINK_HEAP_AT } }] },
      { name: 'envoy.overload_actions.stop_accepting_requests', triggers: [{ name: FIXED_HEAP, threshold: { value: STOP_REQUESTS_AT } }] },
    ],
  };
}

const ADS = { ads: {}, resource_api_version: 'V3' };

/** The xDS cluster's TLS: Envoy's certificate and the CA (file-based SDS), the control plane's URI, and ALPN h2 (gRPC over TLS). */
function xdsTlsSocket(paths: FileSecretPaths): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: { alpn_protocols: ['h2'], ...fileSdsContext(paths, [identityUri('control-plane')]) },
    },
  };
}

/** Builds the bootstrap object (JSON-able). */
export function envoyBootstrap(o: BootstrapOptions): Record<string, unknown> {
  const xdsIsIp = isIP(o.xds.host) !== 0;
  if (o.adminTls && (o.adminAddress ?? '127.0.0.1') !== '127.0.0.1')
    throw new Error(`the admin listens on loopback when its paths are served in TLS (admin address ${o.adminAddress})`);
  const adminTls = o.adminTls ? adminTlsResources({ ...o.adminTls, adminPort: o.adminPort }) : undefined;
  return {
    node: {
      id: o.nodeId,
      cluster: o.cluster ?? 'cellsim-edge',
      metadata: { [META_LISTEN_ADDRESS]: o.listen.address, [META_LISTEN_PORT]: o.listen.port },
    },
    admin: { address: { socket_address: { address: o.adminAddress ?? '127.0.0.1', port_value: o.adminPort } } },
    overload_manager: overloadManager(
      o.maxHeapBytes ?? DEFAULT_MAX_HEAP_BYTES,
      o.maxDownstreamConnections ?? DEFAULT_MAX_DOWNSTREAM_CONNECTIONS,
    ),
    dynamic_resources: {
      ads_config: {
        api_type: o.api === 'delta' ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [
          {
            // The reconnect backoff of an xDS stream is EnvoyGrpc.retry_policy; GrpcService.retry_policy
            // (where it was) is ignored for it, so Envoy used its default 0.5 s → 30 s and came back
            // up to ~16 s after a control plane restart.
            envoy_grpc: { cluster_name: XDS_CLUSTER, retry_policy: { retry_back_off: { base_interval: '0.25s', max_interval: '2s' } } },
          },
        ],
      },
      cds_config: ADS,
      lds_config: ADS,
    },
    static_resources: {
      ...(adminTls ? { listeners: [adminTls.listener] } : {}),
      clusters: [
        {
          name: XDS_CLUSTER,
          type: xdsIsIp ? 'STATIC' : 'STRICT_DNS',
          connect_timeout: '1s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              // A PING every 2 s: a stream whose packets die (a cut path sends no RST) is dropped within
              // 4 s and dialled again (1 s connect timeout, 0.25–2 s backoff), so an update sent into
              // the cut arrives within ~3 s of the path coming back, not at TCP's next retransmission
              // (5.4 s after an 8 s cut at 10 s / 5 s; docs/drills.md §Network drills).
              explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '2s', timeout: '2s' } } },
            },
          },
          ...(o.xdsTls ? { transport_socket: xdsTlsSocket(o.xdsTls) } : {}),
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: o.xds.host, port_value: o.xds.port } } } }] }],
          },
        },
        ...(adminTls ? [adminTls.cluster] : []),
      ],
    },
  };
}

/** Parses `host:port` (IPv6 as `[::1]:18000`); throws with a clear message. */
export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(value.trim());
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`'${value}' is not host:port (e.g. 127.0.0.1:18000)`);
  return { host: m[1], port };
}
