/**
 * The request flow every ADS stream shares, SotW and delta alike: the first request names the
 * node; each request names a type this control plane serves (others are ignored); its nonce
 * answers the latest response of that type — an ACK, or a NACK when it carries `error_detail` —
 * or is stale and ignored; a type has at most one response in flight, and a change that arrives
 * meanwhile follows the answer. A NACKed version is parked: not sent again until the snapshot
 * changes. Responses get the stream's rising nonces, go out in {@link SEND_ORDER} on a snapshot
 * change, and are counted, recorded in the status store and logged here.
 *
 * What differs between the two protocols is a {@link Variant}'s: a type's subscription, the
 * version a client holds, and what a response carries (`sotw.ts`: the full state of the
 * subscribed names; `delta.ts`: only the resources the client lacks, and removals).
 */
import type { Snapshot } from '../cache/snapshot.js';
import { SEND_ORDER, SHORT_NAME, isTypeUrl, type TypeUrl } from '../resources/type-urls.js';
import { NonceSource, nextStreamId, type StreamContext } from './context.js';
import { openNode, wireStream, type AdsCall } from './lifecycle.js';
import { nackError, type NodeInfo, type NodeMessage, type RpcStatus } from './messages.js';

/** The fields both kinds of request carry. */
export interface AdsRequest {
  node?: NodeMessage;
  type_url?: string;
  response_nonce?: string;
  error_detail?: RpcStatus | null;
}

/** A response sent on a type, kept until the next one. */
export interface Sent<X> {
  nonce: string;
  version: string;
  /** When the snapshot it carries changed (push latency runs from there to the ACK); 0 once measured. */
  changedAt: number;
  /** The variant's own record of what it sent. */
  extra: X;
}

/** The bookkeeping every type of a stream has; a variant's type state extends it. */
export interface TypeFlow<X> {
  /** Look at the snapshot even if its version is parked (or, for the variant, already held). */
  force: boolean;
  /** A NACKed version: not sent again until the snapshot changes. */
  parkedVersion: string | undefined;
  /** The latest response sent on the type. */
  latest: Sent<X> | undefined;
  /** True while `latest` awaits its ACK or NACK. */
  inFlight: boolean;
}

/** A new type's shared bookkeeping. */
export function newFlow<X>(force: boolean): TypeFlow<X> {
  return { force, parkedVersion: undefined, latest: undefined, inFlight: false };
}

/** What a variant makes of a type's snapshot. */
export type Reply<Res, X> =
  /** Nothing to send; a parked version stays parked. */
  | { kind: 'skip' }
  /** The client holds what it should: nothing to send; a parked version is released. */
  | { kind: 'current' }
  /** A response (its nonce is set on sending): version, size in bytes, and counts for the log. */
  | { kind: 'send'; version: string; response: Res; extra: X; bytes: number; detail: Record<string, number> };

/** What one protocol adds to the shared flow. */
export interface Variant<Req extends AdsRequest, Res extends { nonce: string }, X, St extends TypeFlow<X>> {
  mode: 'sotw' | 'delta';
  /**
   * True when a request may repeat the latest nonce after its answer (SotW: Envoy does on a
   * later subscription change); false when a nonce answers its response once (delta).
   */
  nonceOutlivesAnswer: boolean;
  /** True when a request with a stale nonce is dropped whole; false when only its ACK/NACK is. */
  staleDropsRequest: boolean;
  /** A type's state, from the stream's first request for it. */
  open(type: TypeUrl, req: Req): St;
  /** The client accepted `sent`: the version it now holds (recorded as ACKed). */
  accept(st: St, sent: Sent<X>, req: Req): string;
  /** The client rejected `sent`: the version to park and record, and the one it keeps (for the log). */
  reject(st: St, sent: Sent<X>, req: Req): { version: string | undefined; kept?: string };
  /** Applies the request's subscription to the type. */
  subscribe(type: TypeUrl, st: St, req: Req): void;
  /** What to send for the type's snapshot (called when nothing is in flight and the version is not parked, or forced). */
  reply(type: TypeUrl, st: St, snap: Snapshot): Reply<Res, X>;
}

/** Serves one ADS stream with `variant` until it ends. */
export function serveStream<Req extends AdsRequest, Res extends { nonce: string }, X, St extends TypeFlow<X>>(
  call: AdsCall<Req, Res>,
  ctx: StreamContext,
  variant: Variant<Req, Res, X, St>,
): void {
  const { mode } = variant;
  const streamId = nextStreamId();
  const nonces = new NonceSource(streamId);
  const types = new Map<TypeUrl, St>();
  let node: NodeInfo | undefined;
  let unwatch: (() => void) | undefined;
  let closed = false;
  const log = ctx.log.child({ stream: streamId, mode });

  const push = (n: NodeInfo, type: TypeUrl, st: St, snap: Snapshot, out: Extract<Reply<Res, X>, { kind: 'send' }>) => {
    const nonce = nonces.next();
    out.response.nonce = nonce;
    st.latest = { nonce, version: out.version, changedAt: snap.changedAt, extra: out.extra };
    st.inFlight = true;
    const labels = { type: SHORT_NAME[type], mode };
    ctx.metrics.pushes.inc(labels);
    ctx.metrics.responseBytes.inc(labels, out.bytes);
    ctx.status.sent(n.id, type, mode, out.version, nonce);
    log.debug({ node: n.id, type: SHORT_NAME[type], version: out.version, nonce, ...out.detail, bytes: out.bytes }, 'xds push');
    call.write(out.response);
  };

  const maybeSend = (type: TypeUrl) => {
    const st = types.get(type);
    if (closed || node === undefined || st === undefined || st.inFlight) return;
    const snap = ctx.cache.getSnapshot(node.id);
    if (snap === undefined) return;
    if (!st.force && snap.type(type).version === st.parkedVersion) return;
    const out = variant.reply(type, st, snap);
    if (out.kind === 'skip') return;
    if (st.parkedVersion !== undefined) ctx.status.unparked(node.id, type, mode);
    st.parkedVersion = undefined;
    st.force = false;
    if (out.kind === 'send') push(node, type, st, snap, out);
  };

  const onSnapshot = () => {
    for (const t of SEND_ORDER) maybeSend(t);
  };

  /** Takes the request's ACK or NACK; false when its nonce is stale. */
  const answer = (n: NodeInfo, type: TypeUrl, st: St, req: Req, nonce: string): boolean => {
    const sent = st.latest;
    if (sent === undefined || nonce !== sent.nonce || !(st.inFlight || variant.nonceOutlivesAnswer)) {
      ctx.metrics.staleNonces.inc({ type: SHORT_NAME[type] });
      log.debug({ node: n.id, type: SHORT_NAME[type], nonce, latest: sent?.nonce }, 'stale nonce ignored');
      return false;
    }
    st.inFlight = false;
    const error = nackError(req.error_detail);
    if (error !== undefined) {
      const { version, kept } = variant.reject(st, sent, req);
      st.parkedVersion = version;
      ctx.metrics.nacks.inc({ type: SHORT_NAME[type] });
      ctx.status.nacked(n.id, type, mode, version ?? '', sent.nonce, error);
      log.error(
        { node: n.id, type: SHORT_NAME[type], rejected: version, kept, error },
        'xds NACK: version parked until the snapshot changes',
      );
    } else {
      ctx.status.acked(n.id, type, mode, variant.accept(st, sent, req));
      if (sent.changedAt > 0) ctx.metrics.pushLatency.observe({ type: SHORT_NAME[type] }, (performance.now() - sent.changedAt) / 1000);
      sent.changedAt = 0;
    }
    return true;
  };

  const onRequest = (req: Req) => {
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
      st = variant.open(type, req);
      types.set(type, st);
    }
    if (req.response_nonce && !answer(node, type, st, req, req.response_nonce) && variant.staleDropsRequest) return;
    variant.subscribe(type, st, req);
    maybeSend(type);
  };

  wireStream(call, ctx, {
    mode,
    log,
    node: () => node,
    onRequest,
    onClose: () => {
      closed = true;
      unwatch?.();
    },
  });
}
