/**
 * CDS: one cluster per cell, endpoints by EDS over ADS, with connect timeout, circuit-breaker
 * thresholds, outlier detection and an active HTTP health check on the cell's /readyz. The
 * panic threshold is 0 so a cell with no healthy host fails fast (503 cell_unavailable)
 * instead of spraying traffic over unhealthy hosts.
 *
 * A hung cell (its /readyz still answers, its /v1 requests never do) is caught by the route
 * timeout (route.ts) plus outlier detection: three consecutive gateway failures (the timeouts'
 * 504s) eject the cell's host, and the passing /readyz check must not put it back (it would
 * within a second), so only the ejection time does. Errors are not split into local/external
 * origin: with the split, every request that gets a connection resets the local-origin count,
 * so timeouts interleaved with new requests would never add up.
 */
import { clusterName } from './names.js';
import { duration } from './proto.js';
import { makeResource, type Resource } from './resource.js';
import { CLUSTER, ENDPOINT } from './type-urls.js';

/** Tunables of every cell cluster (defaults in {@link DEFAULT_CLUSTER_OPTIONS}). */
export interface ClusterOptions {
  connectTimeoutMs: number;
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
  healthCheckIntervalMs: number;
  healthCheckPath: string;
  consecutive5xx: number;
  /** Consecutive 502/503/504 (route timeouts included) that eject a host. */
  consecutiveGatewayFailures: number;
  baseEjectionMs: number;
  /** Upstream connections idle this long are closed by Envoy: below the cells' keep-alive (5 s). */
  upstreamIdleMs: number;
}

/** The defaults: fail fast on a dead cell, generous limits for a healthy one. */
export const DEFAULT_CLUSTER_OPTIONS: ClusterOptions = {
  connectTimeoutMs: 1000,
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
  healthCheckIntervalMs: 1000,
  healthCheckPath: '/readyz',
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
    // Envoy closes idle upstream connections before the cell does (Node keepAliveTimeout 5 s):
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
        timeout: duration(Math.min(1000, o.healthCheckIntervalMs)),
        interval: duration(o.healthCheckIntervalMs),
        no_traffic_interval: duration(o.healthCheckIntervalMs),
        unhealthy_threshold: { value: 1 },
        healthy_threshold: { value: 1 },
        http_health_check: { path: o.healthCheckPath, host: 'cellsim-health-check' },
      },
    ],
    // update_merge_window 0: a host's health change reaches the workers at once. Envoy's default
    // (1 s) merges health changes, so a brand-new host that passed its first check stayed out
    // of the load balancer for up to a second (503 cell_unavailable), and a failed one stayed in.
    common_lb_config: { healthy_panic_threshold: { value: 0 }, update_merge_window: duration(0) },
  };
}

/** Checks the options; returns every problem (empty when valid). */
export function validateClusterOptions(o: ClusterOptions): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (k === 'healthCheckPath') continue;
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
