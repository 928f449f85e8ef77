/** SQL of deliveries (one per order: the order ID is the primary key, so creation is idempotent). */
import type Database from 'better-sqlite3';
import { nextSeq, stmt } from '../db/stmt.js';

/** Delivery statuses. */
export type DeliveryStatus = 'REQUESTED' | 'ASSIGNED' | 'PICKED_UP' | 'DELIVERED' | 'FAILED' | 'CANCELLED';

/** A delivery row. */
export interface DeliveryRow {
  order_id: string;
  market: string;
  status: DeliveryStatus;
  courier: string | null;
  reason: string | null;
  created_at: number;
  updated_at: number;
  seq: number;
}

/** The delivery of an order, if any. */
export function getDelivery(db: Database.Database, orderId: string): DeliveryRow | undefined {
  return stmt(db, 'SELECT * FROM deliveries WHERE order_id = ?').get(orderId) as DeliveryRow | undefined;
}

/** Creates the delivery of an order unless it exists; true when this call created it. */
export function insertDelivery(
  db: Database.Database,
  d: { order_id: string; market: string; status: DeliveryStatus; courier?: string | null; reason?: string | null },
  now = Date.now(),
): boolean {
  return (
    stmt(
      db,
      `INSERT INTO deliveries (order_id, market, status, courier, reason, created_at, updated_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (order_id) DO NOTHING`,
    ).run(d.order_id, d.market, d.status, d.courier ?? null, d.reason ?? null, now, now, nextSeq(db)).changes === 1
  );
}

/** Moves a delivery from one of `from` to `to` (compare-and-set); true when it moved. */
export function transitionDelivery(
  db: Database.Database,
  orderId: string,
  from: readonly DeliveryStatus[],
  to: DeliveryStatus,
  fields: { courier?: string | null; reason?: string | null } = {},
  now = Date.now(),
): boolean {
  const d = getDelivery(db, orderId);
  if (d === undefined || !from.includes(d.status)) return false;
  stmt(db, 'UPDATE deliveries SET status = ?, courier = ?, reason = ?, updated_at = ?, seq = ? WHERE order_id = ?').run(
    to,
    fields.courier === undefined ? d.courier : fields.courier,
    fields.reason === undefined ? d.reason : fields.reason,
    now,
    nextSeq(db),
    orderId,
  );
  return true;
}

/** Delivery statuses that may still be cancelled. */
export const CANCELLABLE_DELIVERY: readonly DeliveryStatus[] = ['REQUESTED', 'ASSIGNED', 'PICKED_UP'];
