/**
 * State-of-the-world ADS on one stream. Per type: the subscribed names, the latest nonce,
 * the version sent and at most one response in flight (a change that arrives meanwhile is
 * sent after the ACK). Requests whose nonce is not the latest are stale and ignored. A NACK
 * (a request with `error_detail`) records the error, keeps the last ACKed version and parks
 * the rejected version: it is not resent until the snapshot changes (unlike
 * go-control-plane issues #46 and #962). Responses go out in CDS → EDS → LDS → RDS → SRDS
 * order. Protocol: https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol
 */
import type * as grpc from '@grpc/grpc-js';
import type { Snapshot } from '../cache/snapshot.js';
import { SEND_ORDER, SHORT_NAME, WILDCARD_TYPES, isTypeUrl, type TypeUrl } from '../resources/type-urls.js';
import { NonceSource, nextStreamId, openNode, type StreamContext, wireStream } from './context.js';
import { nackError, type DiscoveryRequest, type DiscoveryResponse, type NodeInfo } from './messages.js';

interface TypeState {
  /** undefined = wildcard (every resource of the type). */
  names: Set<string> | undefined;
  sentVersion: string | undefined;
  nonce: string | undefined;
  inFlight: boolean;
  sentChangedAt: number;
  parkedVersion: string | undefined;
  force: boolean;
}

/** Serves one SotW ADS stream until it ends. */
export function serveSotw(call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>, ctx: StreamContext): void {
  const streamId = nextStreamId();
  const nonces = new NonceSource(streamId);
  const types = new Map<TypeUrl, TypeState>();
  let node: NodeInfo | undefined;
  let unwatch: (() => void) | undefined;
  let closed = false;
  const log = ctx.log.child({ stream: streamId, mode: 'sotw' });

  const send = (type: TypeUrl, st: TypeState, snap: Snapshot) => {
    const ts = snap.type(type);
    const resources = st.names === undefined ? [...ts.items.values()] : [...st.names].flatMap((n) => ts.items.get(n) ?? []);
    const nonce = nonces.next();
    const response: DiscoveryResponse = {
      version_info: ts.version,
      resources: resources.map((r) => r.any),
      type_url: type,
      nonce,
      control_plane: { identifier: ctx.identifier },
    };
    if (st.parkedVersion !== undefined) ctx.status.unparked(node!.id, type, 'sotw');
    st.parkedVersion = undefined;
    st.sentVersion = ts.version;
    st.nonce = nonce;
    st.inFlight = true;
    st.force = false;
    st.sentChangedAt = snap.changedAt;
    let bytes = 0;
    for (const r of resources) bytes += r.any.value.length;
    ctx.metrics.pushes.inc({ type: SHORT_NAME[type], mode: 'sotw' });
    ctx.metrics.responseBytes.inc({ type: SHORT_NAME[type], mode: 'sotw' }, bytes);
    ctx.status.sent(node!.id, type, 'sotw', ts.version, nonce);
    log.debug({ node: node!.id, type: SHORT_NAME[type], version: ts.version, nonce, resources: resources.length, bytes }, 'xds push');
    call.write(response);
  };

  const maybeSend = (type: TypeUrl) => {
    const st = types.get(type);
    if (closed || node === undefined || st === undefined || st.inFlight) return;
    const snap = ctx.cache.getSnapshot(node.id);
    if (snap === undefined) return;
    const version = snap.type(type).version;
    if (!st.force && (version === st.sentVersion || version === st.parkedVersion)) return;
    send(type, st, snap);
  };

  const onSnapshot = () => {
    for (const t of SEND_ORDER) maybeSend(t);
  };

  const onRequest = (req: DiscoveryRequest) => {
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
    let st = types.get(type);
    if (st === undefined) {
      // A reconnecting client names the version it holds; equal content is not resent.
      st = {
        names: undefined,
        sentVersion: req.version_info || undefined,
        nonce: undefined,
        inFlight: false,
        sentChangedAt: 0,
        parkedVersion: undefined,
        force: !req.version_info,
      };
      types.set(type, st);
    }
    if (req.response_nonce) {
      if (req.response_nonce !== st.nonce) {
        ctx.metrics.staleNonces.inc({ type: SHORT_NAME[type] });
        log.debug({ node: node.id, type: SHORT_NAME[type], nonce: req.response_nonce, latest: st.nonce }, 'stale nonce ignored');
        return;
      }
      st.inFlight = false;
      const error = nackError(req.error_detail);
      if (error !== undefined) {
        st.parkedVersion = st.sentVersion;
        ctx.metrics.nacks.inc({ type: SHORT_NAME[type] });
        ctx.status.nacked(node.id, type, 'sotw', st.sentVersion ?? '', req.response_nonce, error);
        log.error(
          { node: node.id, type: SHORT_NAME[type], rejected: st.sentVersion, kept: req.version_info, error },
          'xds NACK: version parked until the snapshot changes',
        );
        st.sentVersion = req.version_info || undefined;
      } else {
        ctx.status.acked(node.id, type, 'sotw', req.version_info ?? '');
        if (st.sentChangedAt > 0)
          ctx.metrics.pushLatency.observe({ type: SHORT_NAME[type] }, (performance.now() - st.sentChangedAt) / 1000);
        st.sentChangedAt = 0;
      }
    }
    const requested = req.resource_names ?? [];
    const wildcard = requested.length === 0 || (WILDCARD_TYPES.has(type) && requested.includes('*'));
    const names = wildcard ? undefined : new Set(requested);
    if (!sameNames(st.names, names)) {
      st.names = names;
      st.force = true;
    }
    maybeSend(type);
  };

  wireStream(call, ctx, {
    mode: 'sotw',
    log,
    node: () => node,
    onRequest,
    onClose: () => {
      closed = true;
      unwatch?.();
    },
  });
}

function sameNames(a: Set<string> | undefined, b: Set<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const n of a) if (!b.has(n)) return false;
  return true;
}
