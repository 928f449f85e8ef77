/**
 * Incremental (delta) ADS on one stream: the shared flow of `stream.ts` (nonces, ACK/NACK,
 * parking, one response in flight per type) with what delta adds. Per type: wildcard or
 * explicit subscriptions and the resource versions the client holds (from
 * `initial_resource_versions`, then from ACKs). A response carries only resources whose version
 * differs from what the client holds, plus `removed_resources`; a market move is therefore one
 * small scoped-route resource. A nonce answers its response once; a stale one is ignored, but
 * the request's subscription changes still apply. A NACK keeps the client's versions.
 * Protocol: https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#incremental-xds
 */
import type * as grpc from '@grpc/grpc-js';
import { namesChangedSince, type TypeSnapshot } from '../cache/snapshot.js';
import { WILDCARD_TYPES } from '../resources/type-urls.js';
import type { StreamContext } from './context.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaResource } from './messages.js';
import { newFlow, serveStream, type TypeFlow, type Variant } from './stream.js';

/** What a delta response changed on the client, applied to `held` on its ACK. */
interface Changes {
  /** The type snapshot the response brought the client fully up to (undefined when truncated). */
  completes: TypeSnapshot | undefined;
  /** name → version sent, or null for a removal. */
  changes: Map<string, string | null>;
}

interface TypeState extends TypeFlow<Changes> {
  wildcard: boolean;
  names: Set<string>;
  /** What the client holds (ACKed). */
  held: Map<string, string>;
  everSent: boolean;
  /** A type snapshot whose subscribed content the client holds exactly (enables a diff of only the changed names). */
  synced: TypeSnapshot | undefined;
}

/** The delta variant of the shared stream flow; at most `max` resources (and `max` removals) per response. */
export function deltaVariant(identifier: string, max: number): Variant<DeltaDiscoveryRequest, DeltaDiscoveryResponse, Changes, TypeState> {
  return {
    mode: 'delta',
    nonceOutlivesAnswer: false,
    staleDropsRequest: false,
    open: (type, req) => {
      const subscribe = req.resource_names_subscribe ?? [];
      return {
        ...newFlow<Changes>(true),
        // An empty first subscription is the legacy wildcard (only meaningful for wildcard types).
        wildcard: subscribe.includes('*') || (subscribe.length === 0 && WILDCARD_TYPES.has(type)),
        names: new Set(),
        held: new Map(Object.entries(req.initial_resource_versions ?? {})),
        everSent: false,
        synced: undefined,
      };
    },
    accept: (st, sent) => {
      for (const [name, v] of sent.extra.changes) {
        if (v === null) st.held.delete(name);
        else st.held.set(name, v);
      }
      st.synced = sent.extra.completes;
      return sent.version;
    },
    reject: (_st, sent) => ({ version: sent.version }),
    subscribe: (type, st, req) => {
      const subscribe = req.resource_names_subscribe ?? [];
      const unsubscribe = req.resource_names_unsubscribe ?? [];
      if (subscribe.length > 0 || unsubscribe.length > 0) st.synced = undefined;
      for (const name of subscribe) {
        if (name === '*') st.wildcard = true;
        else if (!st.names.has(name)) st.names.add(name);
        else continue;
        st.force = true;
      }
      for (const name of unsubscribe) {
        if (name === '*') st.wildcard = false;
        else st.names.delete(name);
        // The client forgets an unsubscribed resource; a later subscribe must send it again.
        if (name !== '*' && (!st.wildcard || !WILDCARD_TYPES.has(type))) st.held.delete(name);
      }
    },
    reply: (type, st, snap) => {
      const ts = snap.type(type);
      const { add, remove, changes, complete } = diff(st, ts, max);
      if (add.length === 0 && remove.length === 0 && st.everSent) {
        st.synced = ts; // nothing the client lacks (the first response is always sent: it ends the client's init wait)
        return { kind: 'current' };
      }
      st.everSent = true;
      let bytes = 0;
      for (const r of add) bytes += r.resource.value.length + r.name.length + r.version.length;
      for (const n of remove) bytes += n.length;
      return {
        kind: 'send',
        version: ts.version,
        response: {
          system_version_info: ts.version,
          resources: add,
          type_url: type,
          removed_resources: remove,
          nonce: '',
          control_plane: { identifier },
        },
        extra: { changes, completes: complete ? ts : undefined },
        bytes,
        detail: { added: add.length, removed: remove.length },
      };
    },
  };
}

/** Serves one delta ADS stream until it ends. */
export function serveDelta(call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>, ctx: StreamContext): void {
  serveStream(call, ctx, deltaVariant(ctx.identifier, ctx.maxDeltaResources));
}

/** The resources the client lacks and the names it holds that are gone, at most `max` of each. */
function diff(st: TypeState, ts: TypeSnapshot, max: number) {
  const items = ts.items;
  const add: DeltaResource[] = [];
  const remove: string[] = [];
  const changes = new Map<string, string | null>();
  const consider = (name: string) => {
    const r = items.get(name);
    if (r !== undefined && st.held.get(name) !== r.version && add.length < max) {
      add.push({ name, version: r.version, resource: r.any });
      changes.set(name, r.version);
    }
  };
  const gone = (name: string) => {
    if (!items.has(name) && st.held.has(name) && remove.length < max) {
      remove.push(name);
      changes.set(name, null);
    }
  };
  const since = st.force || st.synced === undefined ? undefined : namesChangedSince(ts, st.synced);
  if (since !== undefined) {
    // The client holds an earlier snapshot of this line exactly (or this one: nothing changed):
    // only the names changed since then can differ.
    for (const name of since) {
      if (st.wildcard || st.names.has(name)) consider(name);
      gone(name);
    }
  } else {
    if (st.wildcard) for (const name of items.keys()) consider(name);
    for (const name of st.names) if (!st.wildcard || !items.has(name)) consider(name);
    for (const name of st.held.keys()) gone(name);
  }
  const complete = add.length < max && remove.length < max;
  return { add, remove, changes, complete };
}
