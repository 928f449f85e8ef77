/** What every ADS stream shares: the cache, status, metrics, logger, and the node hook. */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../shared/logger.js';
import type { SnapshotCache } from '../cache/snapshot-cache.js';
import type { StatusStore } from '../cache/status.js';
import type { XdsMetrics } from '../metrics.js';
import { nodeOf, type NodeInfo, type NodeMessage } from './messages.js';

/** The shared context of the ADS server. */
export interface StreamContext {
  cache: SnapshotCache;
  status: StatusStore;
  metrics: XdsMetrics;
  log: Logger;
  /** The control plane's identifier, sent in every response. */
  identifier: string;
  /** Called when a stream names its node, before the stream reads the node's snapshot. */
  onNode(node: NodeInfo): void;
  /** Most resources in one delta response (a larger diff is sent in several). */
  maxDeltaResources: number;
}

/** Per-stream nonce source: one counter per stream, so nonces rise on every type. */
export class NonceSource {
  private n = 0;
  private readonly prefix: string;
  constructor(streamId: number) {
    this.prefix = streamId.toString(36);
  }
  /** The next nonce; strictly greater (by its numeric part) than every earlier one of this stream. */
  next(): string {
    this.n += 1;
    return `${this.prefix}-${this.n}`;
  }
}

let streamCounter = 0;

/** A process-unique stream id. */
export function nextStreamId(): number {
  streamCounter += 1;
  return streamCounter;
}

/** How {@link wireStream} runs one ADS stream. */
export interface StreamWiring<Req> {
  mode: 'sotw' | 'delta';
  log: Logger;
  /** The stream's node, once it has named one. */
  node: () => NodeInfo | undefined;
  /** Handles one request; a throw ends the stream with that error. */
  onRequest: (req: Req) => void;
  /** The mode's own clean-up; runs once, before the node's status is closed. */
  onClose: () => void;
}

/**
 * Wires an ADS stream's life cycle, the same for SotW and delta: counts the stream, hands each
 * request to `onRequest`, and closes exactly once whichever way the stream ends (end, error,
 * close, cancelled), marking the node's stream closed in the status store.
 */
export function wireStream<Req, Res>(call: grpc.ServerDuplexStream<Req, Res>, ctx: StreamContext, w: StreamWiring<Req>): void {
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
 * Opens the node named by a stream's first request, the same for SotW and delta: marks its
 * stream open (status, connected-nodes gauge, log), hands it to `ctx.onNode` (which publishes
 * its snapshot) and only then watches that snapshot with `onSnapshot`. A first request
 * without a node id ends the stream with an error and returns undefined.
 */
export function openNode(
  call: { destroy(err: Error): void },
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
