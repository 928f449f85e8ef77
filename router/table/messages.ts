/** Messages from the table worker thread (Consul watches, diffs, snapshot) to the main thread. */
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import type { FollowerInfo } from '../../shared/markets/follower.js';
import type { Endpoint, InvalidEntry } from '../../shared/routing-table.js';

/** The three things the router follows in Consul. */
export type WatchName = 'markets' | 'cells' | 'endpoints';

/** Where a piece of the table came from. */
export type TableSourceKind = 'consul' | 'snapshot';

/** Cost of reading and diffing one listing (what one change costs). */
export interface ListingStats {
  /** Bytes of the Consul answer. */
  bytes: number;
  /** Answer headers to last byte (the blocking wait excluded), ms. */
  fetchMs: number;
  /** JSON.parse, ms (0 for KV listings: they are scanned, see shared/kv-diff.ts). */
  parseMs: number;
  /** Scan, diff and validation, ms. */
  diffMs: number;
  /** Entries in the listing. */
  entries: number;
  /** Entries whose ModifyIndex moved (decoded and validated). */
  examined: number;
  /** Synchronous (CPU-bound) time on the worker thread for this listing: parse + diff + post, ms. */
  cpuMs: number;
  /** The worker isolate's heap after the listing (used / total), MB. */
  workerHeapMb: [number, number];
}

/** One message of the worker. Markets may arrive in several chunks; `last` marks the final one. */
export type WorkerMessage =
  | {
      type: 'markets';
      source: TableSourceKind;
      upserts: [string, MarketRecord][];
      removed: string[];
      invalid: InvalidEntry[];
      last: boolean;
      index: number;
      stats?: ListingStats;
      /** When the worker received the answer (epoch ms), to measure time to apply. */
      receivedAt: number;
    }
  | { type: 'cells'; source: TableSourceKind; cells: [string, CellRecord][]; invalid: InvalidEntry[]; index: number }
  | { type: 'endpoints'; source: TableSourceKind; endpoints: Endpoint[]; index: number }
  | { type: 'watch-ok'; watch: WatchName; index: number }
  | { type: 'watch-error'; watch: WatchName; message: string; attempt: number; retryInMs: number }
  | { type: 'snapshot-loaded'; savedAt: string; markets: number; cells: number; endpoints: number }
  | { type: 'snapshot-missing' }
  | { type: 'snapshot-error'; op: 'read' | 'write'; message: string }
  | { type: 'snapshot-saved'; bytes: number; ms: number }
  | { type: 'follower'; info: FollowerInfo; via: 'listing' | 'changes' }
  | { type: 'log'; level: 'info' | 'warn'; msg: string; detail: Record<string, unknown> };

/** The worker's start parameters (workerData). */
export interface WorkerConfig {
  consulUrl: string;
  prefix: string;
  snapshotPath?: string;
  /** Blocking-query wait, Consul duration syntax. */
  wait: string;
  /** Upserts per markets message. */
  chunk: number;
  /** Debounce of snapshot writes, ms. */
  snapshotDebounceMs: number;
}
