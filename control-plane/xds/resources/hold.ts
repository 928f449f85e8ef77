/**
 * The hold cluster: the HTTP endpoints of the control plane(s) (`cellsim-xds` instances in
 * Consul), where requests to a frozen market wait for the market's flip. Every replica
 * builds it from the same Consul data, so replicas publish identical snapshots.
 *
 * No active health check and no outlier detection: the endpoints are already the *passing*
 * instances (Consul checks each control plane's /readyz every second, the same check Envoy
 * would make), and an Envoy health check would mark every host new to the cluster unhealthy
 * until its first check passed — so right after Envoy started, or a replica appeared, a
 * frozen market answered 503 cell_unavailable instead of being held. A replica that dies
 * between two Consul checks refuses connections; the hold route retries those on another
 * host (route.ts).
 */
import type { Endpoint } from '../../../shared/routing-table.js';
import { cellClusterObject, type ClusterOptions } from './cluster.js';
import { loadAssignment, type DroppedEndpoint } from './endpoint.js';
import { HOLD_CLUSTER } from './names.js';
import { makeResource, type Resource } from './resource.js';
import { CLUSTER, ENDPOINT } from './type-urls.js';
import { holdTlsSocket } from './upstream-tls.js';

/**
 * The hold cluster: EDS like a cell, without health checks or outlier ejection (Consul's check
 * decides). Its TLS is not the cells' (a cell's socket names a cell): plain HTTP to the control
 * plane's HTTP port, or with `holdTls` (the control planes' `--api-tls`) HTTPS accepting only
 * `spiffe://cellsim/control-plane` (docs/security.md §TLS).
 */
export function holdCluster(o: ClusterOptions): Resource {
  const { outlier_detection: _outlier, health_checks: _checks, ...base } = cellClusterObject('hold', { ...o, upstreamTls: undefined });
  const obj = {
    ...base,
    name: HOLD_CLUSTER,
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: HOLD_CLUSTER },
    ...(o.holdTls ? { transport_socket: holdTlsSocket(o.holdTls === 'sds') } : {}),
  };
  return makeResource(CLUSTER, HOLD_CLUSTER, obj, [{ type: ENDPOINT, name: HOLD_CLUSTER }]);
}

/** The hold cluster's endpoints. */
export function holdLoadAssignment(endpoints: readonly Endpoint[], dropped: DroppedEndpoint[]): Resource {
  return loadAssignment(HOLD_CLUSTER, endpoints, dropped);
}
