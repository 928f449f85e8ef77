/**
 * Consul access shared by the xDS server, cells and operators: the one client (shared/consul/,
 * re-exported here), and watches of a KV prefix and of a service's passing instances on the
 * blocking-query loop of shared/consul-watch.ts (re-exported here).
 */
import { ConsulClient, type ConsulClientOptions } from './consul/client.js';
import { endpointFromHealth, watch, type Watch, type WatchHandlers, type WatchOptions } from './consul-watch.js';
import type { Endpoint, KvEntry } from './routing-table.js';

export * from './consul/client.js';
export {
  SERVICE_CELL,
  SERVICE_DELIVERY,
  SERVICE_ROUTER,
  SERVICE_XDS,
  endpointFromHealth,
  watch,
  type Watch,
  type WatchHandlers,
  type WatchOptions,
  type WatchResult,
} from './consul-watch.js';

/** Creates a client for `http://host:port` (a URL alone, or the client's whole options). */
export function createConsulClient(o: string | ConsulClientOptions): ConsulClient {
  return new ConsulClient(typeof o === 'string' ? { url: o } : o);
}

/** Watches every key under `prefix` (recursive), delivering decoded entries. */
export function watchKvPrefix(consul: ConsulClient, prefix: string, handlers: WatchHandlers<KvEntry[]>, opts?: WatchOptions): Watch {
  return watch<KvEntry[]>(
    async (index, wait, signal) => {
      const r = await consul.kv.list(prefix, { index, wait, signal });
      return { index: r.index, value: r.value.map((i) => ({ key: i.key, value: i.value, modifyIndex: i.modifyIndex })) };
    },
    handlers,
    opts,
  );
}

/** Watches the passing instances of a service. */
export function watchPassingService(
  consul: ConsulClient,
  service: string,
  handlers: WatchHandlers<Endpoint[]>,
  opts?: WatchOptions,
): Watch {
  return watch<Endpoint[]>(
    async (index, wait, signal) => {
      const r = await consul.health.service(service, { passing: true, index, wait, signal });
      return { index: r.index, value: r.value.map(endpointFromHealth).filter((e): e is Endpoint => e !== undefined) };
    },
    handlers,
    opts,
  );
}
