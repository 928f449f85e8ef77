/**
 * EDS: the passing `cellsim-cell` instances of a cell's active color, as one
 * ClusterLoadAssignment per cell (priority 0). Right after a color flip the previous color's
 * instances are added at priority 1 (../flip-fallback.ts says why); each color of a cell with an
 * active color also has its own, for weighted shifts ({@link shiftLoadAssignment}). An endpoint Envoy would
 * reject (an address that is not an IP literal, a port out of range) is dropped and reported,
 * never published.
 */
import { isIP } from 'node:net';
import type { Endpoint } from '../../../shared/routing-table.js';
import { clusterName, shiftClusterName } from './names.js';
import { makeResource, type Resource } from './resource.js';
import { ENDPOINT } from './type-urls.js';

/** Why an endpoint was left out. */
export interface DroppedEndpoint {
  id: string;
  problem: string;
}

/** Returns the problem that makes an endpoint unpublishable, or undefined. */
export function endpointProblem(ep: Endpoint): string | undefined {
  if (isIP(ep.address) === 0) return `address '${ep.address}' is not an IP literal`;
  if (!Number.isInteger(ep.port) || ep.port < 1 || ep.port > 65535) return `port ${ep.port} is out of range`;
  return undefined;
}

/**
 * The EDS resource of a cell from its endpoints, and `fallback` ones at priority 1 (used by Envoy
 * only while no priority-0 host is healthy); `dropped` collects the endpoints left out.
 */
export function cellLoadAssignment(
  cell: string,
  endpoints: readonly Endpoint[],
  dropped: DroppedEndpoint[] = [],
  fallback: readonly Endpoint[] = [],
): Resource {
  return loadAssignment(clusterName(cell), endpoints, dropped, fallback);
}

/**
 * The EDS resource of one color of a cell for a weighted shift (cluster.ts `shiftCluster`), weights
 * left out: that color's `served` endpoints (the cell's, from which the shift's split is drawn;
 * remembered ones while panic routing stands in), else that color's passing ones (`all`: a color
 * started but not yet shifted to), else none (an unused color probes no instance).
 */
export function shiftLoadAssignment(
  cell: string,
  color: 'blue' | 'green',
  all: readonly Endpoint[],
  served: readonly Endpoint[],
): Resource {
  let own = served.filter((e) => e.color === color);
  if (own.length === 0) own = all.filter((e) => e.cell === cell && e.color === color);
  // An endpoint Envoy would reject is reported once, by the cell's own assignment.
  return loadAssignment(
    shiftClusterName(cell, color),
    own.map(({ weight: _w, ...e }) => e),
    [],
  );
}

/** The EDS resource named `name` (a cluster's EDS service name) from endpoints, plus priority-1 `fallback` ones. */
export function loadAssignment(
  name: string,
  endpoints: readonly Endpoint[],
  dropped: DroppedEndpoint[] = [],
  fallback: readonly Endpoint[] = [],
): Resource {
  const localities: object[] = [{ lb_endpoints: lbEndpoints(endpoints, dropped) }];
  if (fallback.length > 0) localities.push({ lb_endpoints: lbEndpoints(fallback, dropped), priority: 1 });
  return makeResource(ENDPOINT, name, { cluster_name: name, endpoints: localities });
}

function lbEndpoints(endpoints: readonly Endpoint[], dropped: DroppedEndpoint[]): object[] {
  const out = [];
  for (const ep of [...endpoints].sort((a, b) => a.id.localeCompare(b.id))) {
    const problem = endpointProblem(ep);
    if (problem !== undefined) {
      dropped.push({ id: ep.id, problem });
      continue;
    }
    out.push({
      endpoint: { address: { socket_address: { address: ep.address, port_value: ep.port } }, hostname: ep.id },
      health_status: 'HEALTHY',
      // A weighted shift between colors (shared/routing-table.ts shiftWeights): Envoy's round robin honours it.
      ...(ep.weight !== undefined ? { load_balancing_weight: { value: ep.weight } } : {}),
    });
  }
  return out;
}
