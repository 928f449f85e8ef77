/**
 * The SQL function `cellsim_bucket(customer_id)`: an order's bucket, the key a market moving by share
 * splits on (shared/experiment.ts `experimentBucket`; docs/weighted-shifts.md §Market moves by share).
 * Every connection of openDb has it, so saga and reconciliation queries can leave frozen buckets alone.
 */
import type Database from 'better-sqlite3';
import { experimentBucket } from '../../shared/experiment.js';

/** The SQL function's name. */
export const BUCKET_FN = 'cellsim_bucket';
const registered = new WeakSet<Database.Database>();

/** Registers {@link BUCKET_FN} on `db` (once per connection); returns `db`. */
export function withBucketFn(db: Database.Database): Database.Database {
  if (!registered.has(db)) {
    db.function(BUCKET_FN, { deterministic: true }, (v: unknown) => experimentBucket(typeof v === 'string' ? v : ''));
    registered.add(db);
  }
  return db;
}

/**
 * SQL condition: the order `orderCol` names (in market `marketCol`) is in a frozen bucket range of
 * its market. Correlated, so it costs a lookup per row tested, and nothing while no range is frozen.
 */
export function inFrozenBucket(orderCol: string, marketCol: string): string {
  return `EXISTS (SELECT 1 FROM frozen_buckets fb JOIN orders fo ON fo.id = ${orderCol} WHERE fb.market = ${marketCol}
    AND ${BUCKET_FN}(fo.customer_id) >= fb.lo AND ${BUCKET_FN}(fo.customer_id) < fb.hi)`;
}
