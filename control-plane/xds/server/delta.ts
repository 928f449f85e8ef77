/**
 * Incremental (delta) ADS on one stream. Per type: wildcard or explicit subscriptions, the
 * resource versions the client holds (from `initial_resource_versions`, then from ACKs),
 * and at most one response in flight. A response carries only resources whose version
 * differs from what the client holds, plus `removed_resources`; a market move is therefore
 * one small scoped-route resource. Stale nonces are ignored; a NACK keeps the client's
 * versions, records the error and parks until the snapshot changes.
 * Protocol: https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#incremental-xds
 */
import type * as grpc from '@grpc/grpc-js';
import type { TypeSnapshot } from '../cache/snapshot.js';
import { SEND_ORDER, SHORT_NAME, WILDCARD_TYPES, isTypeUrl, type TypeUrl } from '../resources/type-urls.js';
import { NonceSource, nextStreamId, openNode, type StreamContext, wireStream } from './context.js';
import { nackError, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DeltaResource, type NodeInfo } from './messages.js';

interface Pending {
  nonce: string;
  version: string;
  changedAt: number;
  /** The type snapshot the response brought the client fully up to (undefined when truncated). */
  completes: TypeSnapshot | undefined;
  /** name → version sent, or null for a removal. */
  changes: Map<string, string | null>;
}

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  /** What the client holds (ACKed). */
  held: Map<string, string>;
  pending: Pending | undefined;
  parkedVersion: string | undefined;
  everSent: boolean;
  force: boolean;
  /** A type snapshot whose subscribed content the client holds exactly (enables a diff of only the changed names). */
  synced: TypeSnapshot | undefined;
}

/** Serves one delta ADS stream until it ends. */
export function serveDelta(call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>, ctx: StreamContext): void {
  const streamId = nextStreamId();
  const nonces = new NonceSource(streamId);
  const types = new Map<TypeUrl, TypeState>();
  let node: NodeInfo | undefined;
  let unwatch: (() => void) | undefined;
  let closed = false;
  const log = ctx.log.child({ stream: streamId, mode: 'delta' });

  const diff = (st: TypeState, ts: TypeSnapshot) => {
    const items = ts.items;
    const add: DeltaResource[] = [];
    const remove: string[] = [];
    const changes = new Map<string, string | null>();
    const max = ctx.maxDeltaResources;
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
    if (!st.force && st.synced !== undefined && ts.delta?.base === st.synced) {
      // The client holds the base exactly: only the changed names can differ.
      for (const name of ts.delta.names) {
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
  };

  const maybeSend = (type: TypeUrl) => {
    const st = types.get(type);
    if (closed || node === undefined || st === undefined || st.pending !== undefined) return;
    const snap = ctx.cache.getSnapshot(node.id);
    if (snap === undefined) return;
    const ts = snap.type(type);
    const version = ts.version;
    if (!st.force && version === st.parkedVersion) return;
    const { add, remove, changes, complete } = diff(st, ts);
    if (st.parkedVersion !== undefined) ctx.status.unparked(node.id, type, 'delta');
    st.parkedVersion = undefined;
    if (add.length === 0 && remove.length === 0 && st.everSent) {
      st.force = false; // nothing the client lacks (the first response is always sent: it ends the client's init wait)
      st.synced = ts;
      return;
    }
    const nonce = nonces.next();
    const response: DeltaDiscoveryResponse = {
      system_version_info: version,
      resources: add,
      type_url: type,
      removed_resources: remove,
      nonce,
      control_plane: { identifier: ctx.identifier },
    };
    st.pending = { nonce, version, changedAt: snap.changedAt, changes, completes: complete ? ts : undefined };
    st.everSent = true;
    st.force = false;
    let bytes = 0;
    for (const r of add) bytes += r.resource.value.length + r.name.length + r.version.length;
    for (const n of remove) bytes += n.length;
    ctx.metrics.pushes.inc({ type: SHORT_NAME[type], mode: 'delta' });
    ctx.metrics.responseBytes.inc({ type: SHORT_NAME[type], mode: 'delta' }, bytes);
    ctx.status.sent(node.id, type, 'delta', version, nonce);
    log.debug({ node: node.id, type: SHORT_NAME[type], version, nonce, added: add.length, removed: remove.length, bytes }, 'xds push');
    call.write(response);
  };

  const onSnapshot = () => {
    for (const t of SEND_ORDER) maybeSend(t);
  };

  const onRequest = (req: DeltaDiscoveryRequest) => {
    if (node === undefined) {
      const opened = openNode(call, ctx, log, req.node, onSnapshot);
      if (opened === undefined) return;
      ({ node, unwatch } = opened);
    }
    const type = req.type_url ?? '';
    if (!isTypeUrl(type)) {
      log.warn({ node: node.id, type }, 'request for a type this control plane does not serve; ignored');
      return;
    }
    const subscribe = req.resource_names_subscribe ?? [];
    const unsubscribe = req.resource_names_unsubscribe ?? [];
    let st = types.get(type);
    if (st === undefined) {
      st = {
        // An empty first subscription is the legacy wildcard (only meaningful for wildcard types).
        wildcard: subscribe.includes('*') || (subscribe.length === 0 && WILDCARD_TYPES.has(type)),
        names: new Set(),
        held: new Map(Object.entries(req.initial_resource_versions ?? {})),
        pending: undefined,
        parkedVersion: undefined,
        everSent: false,
        force: true,
        synced: undefined,
      };
      types.set(type, st);
    }
    if (req.response_nonce) {
      const p = st.pending;
      if (p === undefined || req.response_nonce !== p.nonce) {
        ctx.metrics.staleNonces.inc({ type: SHORT_NAME[type] });
        log.debug({ node: node.id, type: SHORT_NAME[type], nonce: req.response_nonce }, 'stale nonce ignored');
      } else {
        st.pending = undefined;
        const error = nackError(req.error_detail);
        if (error !== undefined) {
          st.parkedVersion = p.version;
          ctx.metrics.nacks.inc({ type: SHORT_NAME[type] });
          ctx.status.nacked(node.id, type, 'delta', p.version, p.nonce, error);
          log.error(
            { node: node.id, type: SHORT_NAME[type], rejected: p.version, error },
            'xds NACK: version parked until the snapshot changes',
          );
        } else {
          for (const [name, v] of p.changes) {
            if (v === null) st.held.delete(name);
            else st.held.set(name, v);
          }
          st.synced = p.completes;
          ctx.status.acked(node.id, type, 'delta', p.version);
          if (p.changedAt > 0) ctx.metrics.pushLatency.observe({ type: SHORT_NAME[type] }, (performance.now() - p.changedAt) / 1000);
        }
      }
    }
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
    maybeSend(type);
  };

  wireStream(call, ctx, {
    mode: 'delta',
    log,
    node: () => node,
    onRequest,
    onClose: () => {
      closed = true;
      unwatch?.();
    },
  });
}
