/**
 * CDS: one cluster per cell (and one per color of a cell with an active color, {@link shiftCluster}), endpoints by EDS over ADS, with connect timeout, circuit-breaker
 * thresholds, outlier detection and an active HTTP health check. The panic threshold is 0 so a
 * cell with no healthy host fails fast (503 cell_unavailable) instead of spraying traffic over
 * unhealthy hosts.
 *
 * The health check is a liveness probe of the cell's **data path**: `GET /v1/_edge-probe`
 * (no such route: the cell answers 404 after its /v1 middleware, faults included; counted under
 * route `unmatched`, which the rollout SLO leaves out), where any answer within 1 s is
 * healthy and only no answer (a hang, a crash, a refused connection) is not. Readiness is
 * Consul's job: its check on /readyz decides which instances are in EDS at all. A cell whose
 * /readyz answers but whose /v1 hangs — the cell-hang drill — fails this probe and stays
 * unhealthy while hung (fast 503s), and is healthy again one probe after the hang ends. An
 * /readyz probe could not see that hang: outlier ejection alone re-tried the hung host after
 * every ejection, and each retry cost its requests the 2 s route timeout.
 *
 * **A busy cell is not a dead one** (docs/tls.md §A busy cell at the edge). A cell is usually
 * one host, and with the panic threshold at 0 its ejection answers 503 to every market it
 * owns; so no single sign a CPU-starved but live cell gives may eject it, only what a request
 * would fail on anyway:
 * - the probe must miss twice in a row (`unhealthy_threshold` 2), the second sent 100 ms after
 *   the first missed (`unhealthy_edge_interval`, Envoy's interval while a change is pending):
 *   about 2.1 s without an answer, longer than the route timeout. A hang is still out within 1 + 1 + 0.1 + 1 = 3.1 s
 *   of its start, before the outlier ejection of its first 504s (2 s route timeout, then 2 s
 *   ejection) ends, so it stays out; a crash is out within ~1.1 s (a refused probe, then one
 *   more), and refused requests eject it at once anyway;
 * - a connection may take as long as the route timeout to connect (`connect_timeout`, which in
 *   Envoy includes the TLS handshake): the handshake needs the cell's event loop, and on a
 *   loaded machine a live cell took over 1 s, so three such connects in a burst counted as three
 *   gateway failures and ejected the cell for 2 s. A refused connection (a crash) still fails
 *   at once.
 *
 * Outlier detection stays for what the probe does not see (a hang of one route only): three
 * consecutive gateway failures (the route timeouts' 504s) eject the host, and a passing probe
 * must not put it back (it would within a second while another route still hangs), so only the
 * ejection time does. Errors are not split into local/external origin: with the split, every
 * request that gets a connection resets the local-origin count, so timeouts interleaved with
 * new requests would never add up.
 */
import { clusterName, shiftClusterName } from './names.js';
import { duration } from './proto.js';
import { makeResource, type Resource } from './resource.js';
import { CLUSTER, ENDPOINT } from './type-urls.js';
import { upstreamTlsSocket } from './upstream-tls.js';

/** Tunables of every cell cluster (defaults in {@link DEFAULT_CLUSTER_OPTIONS}). */
export interface ClusterOptions {
  /** TCP connect and TLS handshake (Envoy's connect_timeout covers both): the route timeout, so a busy cell's slow handshake is no failure. */
  connectTimeoutMs: number;
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
  healthCheckIntervalMs: number;
  /** A probe without an answer after this long fails (below the 2 s route timeout, above a slow cell's answers). */
  healthCheckTimeoutMs: number;
  /** Missed probes in a row that mark a host unhealthy (a refused one counts as missed). */
  healthCheckUnhealthyThreshold: number;
  /** The wait before the next probe after a miss that did not yet reach the threshold. */
  healthCheckRetryMs: number;
  /** Path of the liveness probe (under /v1, so a /v1 hang fails it). */
  healthCheckPath: string;
  consecutive5xx: number;
  /** Consecutive 502/503/504 (route timeouts included) that eject a host. */
  consecutiveGatewayFailures: number;
  baseEjectionMs: number;
  /** Upstream connections idle this long are closed by Envoy: below the cells' keep-alive (10 s, cells/server.ts). */
  upstreamIdleMs: number;
  /** Mutual TLS to the cells (upstream-tls.ts): secrets from Envoy's bootstrap (`static`) or by SDS (`sds`); off unless set. */
  upstreamTls?: 'static' | 'sds';
  /** TLS to the control planes' hold endpoint (`--api-tls`: their HTTP API in HTTPS), secrets as `upstreamTls`; plain unless set (hold.ts). */
  holdTls?: 'static' | 'sds';
}

/** The defaults: fail fast on a dead cell, generous limits for a healthy one. */
export const DEFAULT_CLUSTER_OPTIONS: ClusterOptions = {
  connectTimeoutMs: 2000,
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
  healthCheckIntervalMs: 1000,
  healthCheckTimeoutMs: 1000,
  healthCheckUnhealthyThreshold: 2,
  healthCheckRetryMs: 100,
  healthCheckPath: '/v1/_edge-probe',
  consecutive5xx: 5,
  consecutiveGatewayFailures: 3,
  // Short: the ejection time is also how long a healed cell waits (the passing /readyz does not
  // uneject), and max_ejection_time = base keeps it from growing while a crashed cell is down.
  baseEjectionMs: 2000,
  upstreamIdleMs: 3000,
};

const ADS_SOURCE = { ads: {}, resource_api_version: 'V3' };
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** Builds the cluster object of a cell (plain proto-shaped object). */
export function cellClusterObject(cell: string, o: ClusterOptions = DEFAULT_CLUSTER_OPTIONS): Record<string, unknown> {
  const name = clusterName(cell);
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_SOURCE, service_name: name },
    connect_timeout: duration(o.connectTimeoutMs),
    lb_policy: 'ROUND_ROBIN',
    circuit_breakers: {
      thresholds: [
        {
          priority: 'DEFAULT',
          max_connections: { value: o.maxConnections },
          max_pending_requests: { value: o.maxPendingRequests },
          max_requests: { value: o.maxRequests },
          max_retries: { value: o.maxRetries },
        },
      ],
    },
    outlier_detection: {
      consecutive_5xx: { value: o.consecutive5xx },
      consecutive_gateway_failure: { value: o.consecutiveGatewayFailures },
      enforcing_consecutive_gateway_failure: { value: 100 },
      interval: duration(1000),
      base_ejection_time: duration(o.baseEjectionMs),
      max_ejection_time: duration(o.baseEjectionMs),
      max_ejection_percent: { value: 100 },
      successful_active_health_check_uneject_host: { value: false },
    },
    // Envoy closes idle upstream connections before the cell does (Node keepAliveTimeout 10 s):
    // otherwise a request sent as the cell closes the connection is reset (502 bad_gateway).
    typed_extension_protocol_options: {
      [HTTP_OPTIONS]: {
        '@type': `type.googleapis.com/${HTTP_OPTIONS}`,
        common_http_protocol_options: { idle_timeout: duration(o.upstreamIdleMs) },
        explicit_http_config: { http_protocol_options: {} },
      },
    },
    health_checks: [
      {
        timeout: duration(o.healthCheckTimeoutMs),
        interval: duration(o.healthCheckIntervalMs),
        no_traffic_interval: duration(o.healthCheckIntervalMs),
        unhealthy_edge_interval: duration(o.healthCheckRetryMs),
        unhealthy_threshold: { value: o.healthCheckUnhealthyThreshold },
        healthy_threshold: { value: 1 },
        // Any HTTP answer means the data path is alive (a 500 of an erroring cell is the
        // client's to see, not a reason to take the cell out).
        http_health_check: { path: o.healthCheckPath, host: 'cellsim-health-check', expected_statuses: [{ start: 100, end: 600 }] },
      },
    ],
    // update_merge_window 0: a host's health change reaches the workers at once. Envoy's default
    // (1 s) merges health changes, so a brand-new host that passed its first check stayed out
    // of the load balancer for up to a second (503 cell_unavailable), and a failed one stayed in.
    // A host EDS drops (not passing in Consul, or not the active color) leaves at once. Envoy's
    // default keeps a removed host until it fails its own health check, which the liveness probe
    // of a live-but-unready (or drained, or other-color) cell never does.
    ignore_health_on_host_removal: true,
    common_lb_config: { healthy_panic_threshold: { value: 0 }, update_merge_window: duration(0) },
    ...(o.upstreamTls ? { transport_socket: upstreamTlsSocket(cell, o.upstreamTls === 'sds') } : {}),
  };
}

/** Checks the options; returns every problem (empty when valid). */
export function validateClusterOptions(o: ClusterOptions): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (k === 'healthCheckPath' || k === 'upstreamTls') continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) problems.push(`cluster.${k}: must be a positive integer`);
  }
  if (!o.healthCheckPath.startsWith('/')) problems.push('cluster.healthCheckPath: must start with /');
  return problems;
}

/** The CDS resource of a cell. */
export function cellCluster(cell: string, o: ClusterOptions = DEFAULT_CLUSTER_OPTIONS): Resource {
  const name = clusterName(cell);
  return makeResource(CLUSTER, name, cellClusterObject(cell, o), [{ type: ENDPOINT, name }]);
}

/** A cluster with the cell cluster's settings under its own name and EDS service: one color of the cell. */
export function oneColorCluster(name: string, cell: string, o: ClusterOptions = DEFAULT_CLUSTER_OPTIONS): Resource {
  return makeResource(
    CLUSTER,
    name,
    { ...cellClusterObject(cell, o), name, eds_cluster_config: { eds_config: ADS_SOURCE, service_name: name } },
    [{ type: ENDPOINT, name }],
  );
}

/**
 * The CDS resource of one color of a cell for a weighted shift's route (route.ts). Published for
 * every cell with an active color, shifted or not, so a shift's first step names clusters Envoy
 * has already warmed and health-checked (docs/weighted-shifts.md).
 */
export function shiftCluster(cell: string, color: 'blue' | 'green', o: ClusterOptions = DEFAULT_CLUSTER_OPTIONS): Resource {
  return oneColorCluster(shiftClusterName(cell, color), cell, o);
}
