/** Cuts a markets diff into worker messages of at most `chunk` upserts (the main thread applies each at once). */
import type { MarketRecord } from '../../shared/kv.js';
import type { InvalidEntry } from '../../shared/routing-table.js';
import type { ListingStats, TableSourceKind, WorkerMessage } from './messages.js';

/** One markets diff to post. */
export interface MarketsUpdate {
  source: TableSourceKind;
  upserts: [string, MarketRecord][];
  removed: string[];
  invalid: InvalidEntry[];
  index: number;
  receivedAt: number;
  stats?: ListingStats;
  /** The table is complete after this update (the last message says `last`). */
  complete: boolean;
}

/** The messages of one update: removals, invalid keys and stats ride on the last one. */
export function marketMessages(u: MarketsUpdate, chunk: number): WorkerMessage[] {
  const out: WorkerMessage[] = [];
  const parts = Math.max(1, Math.ceil(u.upserts.length / chunk));
  for (let p = 0; p < parts; p++) {
    const final = p === parts - 1;
    out.push({
      type: 'markets',
      source: u.source,
      upserts: u.upserts.slice(p * chunk, (p + 1) * chunk),
      removed: final ? u.removed : [],
      invalid: final ? u.invalid : [],
      last: final && u.complete,
      index: u.index,
      stats: final && u.complete ? u.stats : undefined,
      receivedAt: u.receivedAt,
    });
  }
  return out;
}
