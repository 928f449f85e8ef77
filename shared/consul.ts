/**
 * Consul access shared by the xDS server, cells and operators: a client built from a URL, and
 * watches of a KV prefix and of a service's passing instances on the blocking-query loop of
 * shared/consul-watch.ts (re-exported here).
 */
import Consul from 'consul';
import {
  endpointFromHealth,
  watch,
  type RawHealthEntry,
  type RawResponse,
  type Watch,
  type WatchHandlers,
  type WatchOptions,
} from './consul-watch.js';
import type { Endpoint, KvEntry } from './routing-table.js';

export {
  SERVICE_CELL,
  SERVICE_ROUTER,
  SERVICE_XDS,
  endpointFromHealth,
  watch,
  type Watch,
  type WatchHandlers,
  type WatchOptions,
  type WatchResult,
} from './consul-watch.js';

/** The consul npm client's type. */
export type ConsulClient = InstanceType<typeof Consul>;

/** Creates a client for `http://host:port`. */
export function createConsulClient(url: string): ConsulClient {
  const u = new URL(url);
  return new Consul({
    host: u.hostname,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    secure: u.protocol === 'https:',
  });
}

interface RawKvItem {
  Key: string;
  Value: string | null;
  ModifyIndex: number;
}

/** Watches every key under `prefix` (recursive), delivering decoded entries. */
export function watchKvPrefix(consul: ConsulClient, prefix: string, handlers: WatchHandlers<KvEntry[]>, opts?: WatchOptions): Watch {
  return watch<KvEntry[]>(
    async (index, wait, ctx) => {
      const [res, items] = (await consul.kv.get({ key: prefix, recurse: true, index: String(index), wait, ctx } as never)) as unknown as [
        RawResponse,
        RawKvItem[] | RawKvItem | null | undefined,
      ];
      const list = items == null ? [] : Array.isArray(items) ? items : [items];
      return [res, list.map((i) => ({ key: i.Key, value: i.Value, modifyIndex: i.ModifyIndex }))];
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
    async (index, wait, ctx) => {
      const [res, entries] = (await consul.health.service({
        service,
        passing: true,
        index: String(index),
        wait,
        ctx,
      } as never)) as unknown as [RawResponse, RawHealthEntry[]];
      const endpoints = (entries ?? []).map(endpointFromHealth).filter((e): e is Endpoint => e !== undefined);
      return [res, endpoints];
    },
    handlers,
    opts,
  );
}
