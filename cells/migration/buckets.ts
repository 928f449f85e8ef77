/**
 * Bucket ranges of a market moving by share (docs/weighted-shifts.md §Market moves by share): an
 * order's bucket is `experimentBucket(customer_id)` (shared/experiment.ts, the key both planes
 * split on), and a range `[from, to)` of buckets can be frozen (client writes of its orders answer
 * `409 market_frozen`, cells/orders/domain.ts), summarised, and exported (export.ts).
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { EXPERIMENT_BUCKETS } from '../../shared/experiment.js';
import { BUCKET_FN, withBucketFn } from '../db/bucket-fn.js';
import { stmt } from '../db/stmt.js';
import { orderHash } from './summary.js';

/** A range of buckets, `from` included, `to` excluded. */
export interface BucketRange {
  from: number;
  to: number;
}

const bucket = z.number().int().min(0).max(EXPERIMENT_BUCKETS);
const fromBelowTo = (r: { from?: number; to?: number }) => r.from === undefined || r.to === undefined || r.from < r.to;

/** A bucket range in a JSON body: `{from, to}`, 0 ≤ from < to ≤ 10,000. */
export const BucketRangeSchema = z
  .object({ from: bucket, to: bucket })
  .strict()
  .refine(fromBelowTo, { message: 'from must be below to', path: ['to'] });

/** The optional bucket range of a query (`?from=&to=`, both or neither), beside `since` where the route takes it. */
export const BucketQuerySchema = z
  .object({ from: z.coerce.number().pipe(bucket).optional(), to: z.coerce.number().pipe(bucket).optional(), since: z.string().optional() })
  .strict()
  .refine((q) => (q.from === undefined) === (q.to === undefined), { message: 'from and to come together', path: ['to'] })
  .refine(fromBelowTo, { message: 'from must be below to', path: ['to'] });

/** The range of a parsed {@link BucketQuerySchema}, or undefined. */
export function rangeOf(q: { from?: number; to?: number }): BucketRange | undefined {
  return q.from === undefined || q.to === undefined ? undefined : { from: q.from, to: q.to };
}

export { BUCKET_FN, withBucketFn } from '../db/bucket-fn.js';

/** The SQL condition "the order `col` names has its bucket in the range" (two parameters: from, to). */
export function orderInRange(col: 'id' | 'order_id'): string {
  if (col === 'id') return `${BUCKET_FN}(customer_id) >= ? AND ${BUCKET_FN}(customer_id) < ?`;
  return `order_id IN (SELECT id FROM orders WHERE ${BUCKET_FN}(customer_id) >= ? AND ${BUCKET_FN}(customer_id) < ?)`;
}

/** Freezes a range (idempotent) or thaws exactly that range; answers the market's frozen ranges. */
export function setBucketsFrozen(db: Database.Database, market: string, r: BucketRange, frozen: boolean): BucketRange[] {
  if (frozen)
    stmt(db, 'INSERT INTO frozen_buckets (market, lo, hi, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING').run(
      market,
      r.from,
      r.to,
      Date.now(),
    );
  else stmt(db, 'DELETE FROM frozen_buckets WHERE market = ? AND lo = ? AND hi = ?').run(market, r.from, r.to);
  return frozenBuckets(db, market);
}

/** The market's frozen ranges, lowest first. */
export function frozenBuckets(db: Database.Database, market: string): BucketRange[] {
  const rows = stmt(db, 'SELECT lo, hi FROM frozen_buckets WHERE market = ? ORDER BY lo, hi').all(market) as { lo: number; hi: number }[];
  return rows.map((r) => ({ from: r.lo, to: r.hi }));
}

/** `GET /admin/markets/:m/summary?from=&to=`: the orders of a bucket range. */
export interface BucketSummary {
  market: string;
  buckets: BucketRange;
  orders: number;
  deliveries: number;
  /** The market summary's checksum (summary.ts) over these orders only. */
  checksum: string;
  /** Whether the whole range lies inside one frozen range. */
  frozen: boolean;
}

/**
 * Counts and checksum of the orders whose bucket is in `r`, in one read transaction: the two sides
 * of a step compare them after its delta copy. Computed afresh (no incremental state): a step's
 * range is a share of a market.
 */
export function bucketSummary(db: Database.Database, market: string, r: BucketRange): BucketSummary {
  withBucketFn(db);
  return db
    .transaction((): BucketSummary => {
      const MOD = 1n << 128n;
      let sum = 0n;
      let orders = 0;
      const sql = `SELECT id, status, total_cents FROM orders WHERE market = ? AND ${orderInRange('id')}`;
      for (const o of stmt(db, sql).iterate(market, r.from, r.to) as IterableIterator<{
        id: string;
        status: string;
        total_cents: number;
      }>) {
        sum = (sum + orderHash(o)) % MOD;
        orders += 1;
      }
      const deliveries = (
        stmt(db, `SELECT COUNT(*) AS n FROM deliveries WHERE market = ? AND ${orderInRange('order_id')}`).get(market, r.from, r.to) as {
          n: number;
        }
      ).n;
      const frozen = frozenBuckets(db, market).some((f) => f.from <= r.from && r.to <= f.to);
      return { market, buckets: r, orders, deliveries, checksum: sum.toString(16).padStart(32, '0'), frozen };
    })
    .deferred();
}
