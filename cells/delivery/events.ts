/**
 * The delivery service's events (docs/kafka.md §Order and delivery services): what the saga did
 * to an order's delivery, written to the delivery database's outbox in the transaction of the
 * step, relayed to `cellsim.<cell>.deliveries` (key: the order id), and applied by the order
 * service to its order (cells/orders/delivery-handler.ts).
 */
import type Database from 'better-sqlite3';
import { stmt } from '../db/stmt.js';

/** Delivery event types, in the order a delivered order gets them. */
export type DeliveryEventType = 'delivery.assigned' | 'delivery.picked_up' | 'delivery.delivered' | 'delivery.failed';

/** One delivery event: the order it is about and what it carries. */
export interface DeliveryEvent {
  orderId: string;
  market: string;
  type: DeliveryEventType;
  courier?: string;
  /** Why the delivery failed (`delivery.failed`): the order is cancelled with it. */
  reason?: string;
}

/** The JSON payload of a delivery event. */
export interface DeliveryPayload extends DeliveryEvent {
  at: number;
}

/** Writes a delivery event to the outbox (inside the caller's transaction); its id is `<order>:<type>`. */
export function emitDeliveryEvent(db: Database.Database, e: DeliveryEvent, now = Date.now()): void {
  const payload: DeliveryPayload = { ...e, at: now };
  stmt(db, 'INSERT INTO outbox (event_id, market, key, type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
    `${e.orderId}:${e.type}`,
    e.market,
    e.orderId,
    e.type,
    JSON.stringify(payload),
    now,
  );
}
