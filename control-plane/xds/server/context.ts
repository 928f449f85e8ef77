/** What every ADS stream shares: the cache, status, metrics, logger, and the node hook; nonces and stream ids. */
import type { Logger } from '../../../shared/logger.js';
import type { SnapshotCache } from '../cache/snapshot-cache.js';
import type { StatusStore } from '../cache/status.js';
import type { XdsMetrics } from '../metrics.js';
import type { NodeInfo } from './messages.js';

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
