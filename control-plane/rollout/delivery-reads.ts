/**
 * A delivery rollout's reads of a split cell's delivery service: its passing `cellsim-delivery`
 * instances in Consul (docs/contracts.md §Consul services: meta `cell`, `version`) and their
 * /metrics, through the control plane's one client for cells (HTTPS with its certificate under `--tls`).
 */
import type { HttpCellAdmin } from '../migration/cell-client.js';
import type { DeliveryReads } from './delivery-runner.js';

/** The reads of delivery instances through `cells`, the control plane's client of the cells. */
export function deliveryReads(cells: Pick<HttpCellAdmin, 'instances' | 'metrics'>): DeliveryReads {
  return {
    deliveryInstances: (cell, version) => cells.instances(cell, undefined, version, 'delivery'),
    metrics: (url) => cells.metrics(url),
  };
}
