/** SQL of orders, their status history, idempotency records and the outbox (callers hold the transaction). */
import type Database from 'better-sqlite3';
import { experimentBucket } from '../../shared/experiment.js';
import { BUCKET_FN } from '../db/bucket-fn.js';
import { nextSeq, stmt } from '../db/stmt.js';
import type { Item, OrderStatus } from './schemas.js';

/** An order row. */
export interface OrderRow {
  id: string;
  market: string;
  customer_id: string;
  items: string;
  address: string;
  total_cents: number;
  status: OrderStatus;
  cancel_reason: string | null;
  created_at: number;
  updated_at: number;
  seq: number;
}

/** A status history row. */
export interface HistoryRow {
  order_id: string;
  n: number;
  market: string;
  status: OrderStatus;
  reason: string | null;
  at: number;
  seq: number;
}

/** The order as the API shows it. */
export interface OrderView {
  id: string;
  market: string;
  customerId: string;
  items: Item[];
  address: string;
  totalCents: number;
  status: OrderStatus;
  cancelReason: string | null;
  createdAt: string;
  updatedAt: string;
  history?: { status: OrderStatus; reason: string | null; at: string }[];
}

/** Row → API view. */
export function toView(o: OrderRow, history?: HistoryRow[]): OrderView {
  const view: OrderView = {
    id: o.id,
    market: o.market,
    customerId: o.customer_id,
    items: JSON.parse(o.items) as Item[],
    address: o.address,
    totalCents: o.total_cents,
    status: o.status,
    cancelReason: o.cancel_reason,
    createdAt: new Date(o.created_at).toISOString(),
    updatedAt: new Date(o.updated_at).toISOString(),
  };
  if (history) view.history = history.map((h) => ({ status: h.status, reason: h.reason, at: new Date(h.at).toISOString() }));
  return view;
}

/** One order, or undefined. */
export function getOrder(db: Database.Database, id: string): OrderRow | undefined {
  return stmt(db, 'SELECT * FROM orders WHERE id = ?').get(id) as OrderRow | undefined;
}

/** An order's status history, oldest first. */
export function getHistory(db: Database.Database, id: string): HistoryRow[] {
  return stmt(db, 'SELECT * FROM order_history WHERE order_id = ? ORDER BY n').all(id) as HistoryRow[];
}

/** Appends a status to an order's history. */
export function addHistory(
  db: Database.Database,
  o: { id: string; market: string },
  status: OrderStatus,
  reason: string | null,
  at: number,
): void {
  stmt(
    db,
    `INSERT INTO order_history (order_id, n, market, status, reason, at, seq)
     VALUES (?, (SELECT COALESCE(MAX(n), 0) + 1 FROM order_history WHERE order_id = ?), ?, ?, ?, ?, ?)`,
  ).run(o.id, o.id, o.market, status, reason, at, nextSeq(db));
}

/** Inserts a new PENDING order with its first history entry. */
export function insertOrder(db: Database.Database, o: Omit<OrderRow, 'seq' | 'status' | 'cancel_reason' | 'updated_at'>): void {
  stmt(
    db,
    `INSERT INTO orders (id, market, customer_id, items, address, total_cents, status, cancel_reason, created_at, updated_at, seq)
     VALUES (?, ?, ?, ?, ?, ?, 'PENDING', NULL, ?, ?, ?)`,
  ).run(o.id, o.market, o.customer_id, o.items, o.address, o.total_cents, o.created_at, o.created_at, nextSeq(db));
  addHistory(db, o, 'PENDING', null, o.created_at);
}

/**
 * Moves an order from one of `from` to `to` (compare-and-set) and records it in the history.
 * False when the order is missing or in another status: callers stay idempotent.
 */
export function transitionOrder(
  db: Database.Database,
  id: string,
  from: readonly OrderStatus[],
  to: OrderStatus,
  reason: string | null = null,
  now = Date.now(),
): boolean {
  const o = getOrder(db, id);
  if (o === undefined || !from.includes(o.status)) return false;
  stmt(db, 'UPDATE orders SET status = ?, cancel_reason = ?, updated_at = ?, seq = ? WHERE id = ? AND status = ?').run(
    to,
    to === 'CANCELLED' ? reason : o.cancel_reason,
    now,
    nextSeq(db),
    id,
    o.status,
  );
  addHistory(db, o, to, reason, now);
  return true;
}

/** An idempotency record. */
export interface IdempotencyRow {
  market: string;
  key: string;
  body_hash: string;
  order_id: string;
}

/** The idempotency record of (market, key), if any. */
export function getIdempotency(db: Database.Database, market: string, key: string): IdempotencyRow | undefined {
  return stmt(db, 'SELECT * FROM idempotency WHERE market = ? AND key = ?').get(market, key) as IdempotencyRow | undefined;
}

/** Records which order an idempotency key created. */
export function insertIdempotency(db: Database.Database, r: IdempotencyRow, now: number): void {
  stmt(db, 'INSERT INTO idempotency (market, key, body_hash, order_id, created_at, seq) VALUES (?, ?, ?, ?, ?, ?)').run(
    r.market,
    r.key,
    r.body_hash,
    r.order_id,
    now,
    nextSeq(db),
  );
}

/** Order event types written to the outbox. */
export type OrderEventType = 'order.created' | 'order.cancelled';

/** The payload of an order event: what a delivery service of its own needs (docs/kafka.md §Order and delivery services). */
export interface OrderEventPayload {
  orderId: string;
  market: string;
  type: OrderEventType;
  at: number;
  /** Where to deliver (`order.created`). */
  address?: string;
  /** When the order was accepted (`order.created`). */
  createdAt?: number;
  /** Why it was cancelled (`order.cancelled`). */
  reason?: string | null;
}

/** Writes an order event to the outbox (same transaction as the order change). */
export function insertOutbox(
  db: Database.Database,
  o: { id: string; market: string; address?: string; created_at?: number; cancel_reason?: string | null },
  type: OrderEventType,
  eventId: string,
  now: number,
): void {
  const payload: OrderEventPayload = { orderId: o.id, market: o.market, type, at: now };
  if (type === 'order.created') Object.assign(payload, { address: o.address, createdAt: o.created_at });
  else payload.reason = o.cancel_reason ?? null;
  stmt(db, 'INSERT INTO outbox (event_id, market, key, type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
    eventId,
    o.market,
    o.id,
    type,
    JSON.stringify(payload),
    now,
  );
}

/** True when `market` is frozen for a migration. */
export function isFrozen(db: Database.Database, market: string): boolean {
  return stmt(db, 'SELECT 1 FROM frozen_markets WHERE market = ?').get(market) !== undefined;
}

/**
 * True when the bucket of `customer` (shared/experiment.ts `experimentBucket`, the key a market
 * moving by share splits on) lies in a frozen range of `market` (docs/weighted-shifts.md §Market moves by share).
 */
export function isBucketFrozen(db: Database.Database, market: string, customer: string): boolean {
  const ranges = stmt(db, 'SELECT lo, hi FROM frozen_buckets WHERE market = ?').all(market) as { lo: number; hi: number }[];
  if (ranges.length === 0) return false;
  const b = experimentBucket(customer);
  return ranges.some((r) => r.lo <= b && b < r.hi);
}

/**
 * True when `market` is frozen, or the order's bucket lies in a frozen range of it: its saga's
 * steps write nothing (they run again where the order lives next).
 */
export function isOrderFrozen(db: Database.Database, market: string, orderId: string): boolean {
  if (isFrozen(db, market)) return true;
  const o = stmt(db, 'SELECT customer_id FROM orders WHERE id = ?').get(orderId) as { customer_id: string } | undefined;
  return o !== undefined && isBucketFrozen(db, market, o.customer_id);
}

/**
 * A page of a market's orders (oldest first), after the keyset cursor `after`; with `buckets`, only
 * the orders whose bucket is `inside` that range, or outside it (a market moving by share).
 */
export function listOrders(
  db: Database.Database,
  q: {
    market: string;
    status?: OrderStatus;
    limit: number;
    after?: [number, string];
    buckets?: { from: number; to: number; inside: boolean };
  },
): OrderRow[] {
  const [at, id] = q.after ?? [-1, ''];
  const b = q.buckets;
  const inRange = `${BUCKET_FN}(customer_id) >= ? AND ${BUCKET_FN}(customer_id) < ?`;
  const bucketSql = b === undefined ? '' : b.inside ? ` AND ${inRange}` : ` AND NOT (${inRange})`;
  const bucketArgs = b === undefined ? [] : [b.from, b.to];
  if (q.status)
    return stmt(
      db,
      `SELECT * FROM orders WHERE market = ? AND status = ? AND (created_at, id) > (?, ?)${bucketSql} ORDER BY created_at, id LIMIT ?`,
    ).all(q.market, q.status, at, id, ...bucketArgs, q.limit) as OrderRow[];
  return stmt(db, `SELECT * FROM orders WHERE market = ? AND (created_at, id) > (?, ?)${bucketSql} ORDER BY created_at, id LIMIT ?`).all(
    q.market,
    at,
    id,
    ...bucketArgs,
    q.limit,
  ) as OrderRow[];
}
