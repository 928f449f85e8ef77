/**
 * The delivery service's handler of order events (`--role delivery`,
 * docs/kafka.md §Order and delivery services). Its database has no order service behind it, so it first keeps a copy of
 * the order facts the saga needs, from the event (id, market, address, acceptance time, and the
 * status as the delivery side moves it), then runs the same handler as an all-in-one cell: a
 * delivery keyed by the order id, and a saga. Both in one transaction; a replay changes nothing.
 */
import type Database from 'better-sqlite3';
import type { LogRecord } from '../log/types.js';
import type { CellMetrics } from '../metrics.js';
import { getOrder, insertOrder, transitionOrder, type OrderEventPayload } from '../orders/repo.js';
import { applyOrderEvent, type HandleOutcome } from './handler.js';

/** Records the order facts an event carries in the delivery database, then applies the event. */
export function applyMirroredOrderEvent(db: Database.Database, rec: LogRecord, assignDeadlineMs: number, now = Date.now()): HandleOutcome {
  const p = JSON.parse(rec.payload) as Partial<OrderEventPayload>;
  return db
    .transaction((): HandleOutcome => {
      if (getOrder(db, rec.key) === undefined) {
        insertOrder(db, {
          id: rec.key,
          market: rec.market,
          customer_id: '',
          items: '[]',
          address: p.address ?? '',
          total_cents: 0,
          created_at: p.createdAt ?? rec.createdAt,
        });
      }
      if (rec.type === 'order.cancelled')
        transitionOrder(db, rec.key, ['PENDING', 'CONFIRMED', 'DELIVERING'], 'CANCELLED', p.reason ?? 'cancelled', now);
      return applyOrderEvent(db, rec, assignDeadlineMs, now);
    })
    .immediate();
}

/** The delivery service's consumer handler: applies the event and counts the outcome. */
export function mirroredDeliveryHandler(deps: { db: Database.Database; metrics: CellMetrics; assignDeadlineMs: number }) {
  return async (rec: LogRecord): Promise<void> => {
    const outcome = applyMirroredOrderEvent(deps.db, rec, deps.assignDeadlineMs);
    deps.metrics.eventsProcessed.inc({ type: rec.type, outcome });
  };
}
