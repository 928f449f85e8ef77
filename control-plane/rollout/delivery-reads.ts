/**
 * A delivery rollout's reads of a split cell's delivery service: its passing `cellsim-delivery`
 * instances in Consul (docs/contracts.md §Consul services: meta `cell`, `version`) and their
 * /metrics, through the control plane's one client for cells (HTTPS with its certificate under `--tls`).
 */
import { SERVICE_DELIVERY, type ConsulClient } from '../../shared/consul.js';
import type { PeerClient } from '../../shared/pki/client.js';
import type { DeliveryReads } from './delivery-runner.js';

/** The reads of delivery instances through `consul` (the control plane's Consul client) and `client`. */
export function deliveryReads(consul: ConsulClient, client: PeerClient): DeliveryReads {
  return {
    async deliveryInstances(cell: string, version?: string): Promise<string[]> {
      const { value: entries } = await consul.health.service(SERVICE_DELIVERY, { passing: true, timeoutMs: 5000 });
      return entries
        .filter((e) => e.Service.Meta?.cell === cell && (version === undefined || e.Service.Meta.version === version))
        .map((e) => client.base(e.Service.Address || '127.0.0.1', e.Service.Port))
        .sort();
    },
    metrics: (url: string) => client.text(`${url}/metrics`, 2000),
  };
}
