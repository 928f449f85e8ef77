/**
 * The order service's one client of its delivery service
 * (docs/kafka.md §Reconciliation of a split cell): `POST <delivery>/admin/reconcile/deliveries`
 * with the cells' admin token, tried on each instance in turn (they share one database, so any
 * answers for all), at most {@link MAX_READ_IDS} order ids a call. The instances: `--delivery-url`,
 * else the cell's `cellsim-delivery` instances in Consul. HTTPS with the cell's own certificate
 * under `--tls`.
 */
import { ConsulClient, SERVICE_DELIVERY } from '../../shared/consul.js';
import { HttpError } from '../../shared/errors.js';
import { peerClient, type PeerClient } from '../../shared/pki/client.js';
import { watchTls } from '../../shared/pki/reload.js';
import type { TlsFiles } from '../../shared/pki/names.js';
import { MAX_READ_IDS, type DeliveryReadAnswer } from './delivery-read.js';
import type { DeliverySide } from './split-compare.js';

/** Reads the delivery service's side of some orders. */
export interface DeliveryReader {
  read(orderIds: readonly string[]): Promise<DeliverySide[]>;
  close(): Promise<void>;
}

/** A reader over HTTP(S) of the delivery instances at `urls`. */
export function deliveryReader(opts: {
  urls: () => Promise<readonly string[]>;
  token?: string;
  tls?: TlsFiles;
  timeoutMs?: number;
}): DeliveryReader {
  const client: PeerClient = peerClient(opts.tls ? watchTls(opts.tls) : undefined, ['cell']);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const once = async (urls: readonly string[], ids: readonly string[]): Promise<DeliverySide[]> => {
    const problems: string[] = [];
    for (const base of urls) {
      try {
        const res = await client.fetch(`${base}/admin/reconcile/deliveries`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.token ?? ''}` },
          body: JSON.stringify({ orderIds: ids }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (res.ok) return ((await res.json()) as DeliveryReadAnswer).deliveries;
        problems.push(`${base} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      } catch (err) {
        problems.push(`${base}: ${(err as Error).message}`);
      }
    }
    throw new HttpError('bad_gateway', `the delivery service did not answer the reconciliation read (${problems.join('; ')})`);
  };
  return {
    async read(orderIds) {
      const urls = await opts.urls();
      if (!urls.length) throw new HttpError('bad_gateway', 'no instance of the delivery service is known (--delivery-url, or in Consul)');
      const out: DeliverySide[] = [];
      for (let i = 0; i < orderIds.length; i += MAX_READ_IDS) out.push(...(await once(urls, orderIds.slice(i, i + MAX_READ_IDS))));
      return out;
    },
    close: () => client.close(),
  };
}

/**
 * The base URLs of the `cellsim-delivery` instances of `cell` registered with the local Consul
 * agent (`https` with TLS). The agent's list, not the health API: the cells' ACL token reads
 * their services but no node, and a health answer is filtered on both; an instance that is down
 * is skipped by the reader's next try.
 */
export function consulDeliveryUrls(consulUrl: string, cell: string, tls: boolean): () => Promise<string[]> {
  const consul = new ConsulClient({ url: consulUrl });
  return async () =>
    Object.values(await consul.agent.services({ timeoutMs: 3000 }))
      .filter((s) => s.Service === SERVICE_DELIVERY && s.Meta?.cell === cell)
      .map((s) => `${tls ? 'https' : 'http'}://${s.Address}:${s.Port}`)
      .sort();
}
