/**
 * An ADS stream's life cycle, the same for SotW and delta: opening (the node named by the first
 * request) and closing (exactly once, whichever way the stream ends), with the stream gauge,
 * the connected-nodes gauge and the node's status kept true.
 */
import type { Logger } from '../../../shared/logger.js';
import type { StreamContext } from './context.js';
import { nodeOf, type NodeInfo, type NodeMessage } from './messages.js';

/** The part of a gRPC duplex stream the ADS server uses (a fake one in unit tests). */
export interface AdsCall<Req, Res> {
  on(event: 'data', listener: (req: Req) => void): unknown;
  on(event: 'end' | 'error' | 'close' | 'cancelled', listener: () => void): unknown;
  write(res: Res): unknown;
  end(): unknown;
  destroy(err?: Error): unknown;
}

/** How {@link wireStream} runs one ADS stream. */
export interface StreamWiring<Req> {
  mode: 'sotw' | 'delta';
  log: Logger;
  /** The stream's node, once it has named one. */
  node: () => NodeInfo | undefined;
  /** Handles one request; a throw ends the stream with that error. */
  onRequest: (req: Req) => void;
  /** The stream's own clean-up; runs once, before the node's status is closed. */
  onClose: () => void;
}

/**
 * Wires an ADS stream's life cycle: counts the stream, hands each request to `onRequest`, and
 * closes exactly once whichever way the stream ends (end, error, close, cancelled), marking
 * the node's stream closed in the status store.
 */
export function wireStream<Req, Res>(call: AdsCall<Req, Res>, ctx: StreamContext, w: StreamWiring<Req>): void {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    w.onClose();
    const node = w.node();
    if (node !== undefined) {
      ctx.status.streamClosed(node.id);
      ctx.metrics.connectedNodes.set(ctx.status.connectedNodes());
      w.log.info({ node: node.id }, 'xds stream closed');
    }
    ctx.metrics.streams.dec({ mode: w.mode });
  };
  ctx.metrics.streams.inc({ mode: w.mode });
  call.on('data', (req: Req) => {
    try {
      w.onRequest(req);
    } catch (err) {
      w.log.error({ err }, 'xds request failed');
      call.destroy(err as Error);
    }
  });
  call.on('end', () => {
    close();
    call.end();
  });
  call.on('error', close);
  call.on('close', close);
  call.on('cancelled', close);
}

/** A stream's node once opened, and how to stop watching its snapshot. */
export interface OpenedNode {
  node: NodeInfo;
  unwatch: () => void;
}

/**
 * Opens the node named by a stream's first request: marks its stream open (status,
 * connected-nodes gauge, log), hands it to `ctx.onNode` (which publishes its snapshot) and
 * only then watches that snapshot with `onSnapshot`. A first request without a node id ends
 * the stream with an error and returns undefined.
 */
export function openNode(
  call: { destroy(err: Error): unknown },
  ctx: StreamContext,
  log: Logger,
  msg: NodeMessage | undefined,
  onSnapshot: () => void,
): OpenedNode | undefined {
  const node = nodeOf(msg);
  if (node === undefined) {
    call.destroy(new Error('the first request of a stream must carry node.id'));
    return undefined;
  }
  ctx.status.streamOpened(node.id, node.cluster);
  ctx.metrics.connectedNodes.set(ctx.status.connectedNodes());
  log.info({ node: node.id }, 'xds stream opened');
  ctx.onNode(node);
  return { node, unwatch: ctx.cache.watch(node.id, onSnapshot) };
}
