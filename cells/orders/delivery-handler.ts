/**
 * The order service's handler of delivery events (`--role order`,
 * docs/kafka.md §Order and delivery services): each event moves the order by a compare-and-set transition, so a replayed
 * or late event changes nothing. This is the choreographed half of the saga: the delivery service
 * reacts to order events, the order service to delivery events.
 */
import type Database from 'better-sqlite3';
import type { DeliveryEventType, DeliveryPayload } from '../delivery/events.js';
import type { LogRecord } from '../log/types.js';
import type { CellMetrics } from '../metrics.js';
import { getOrder, transitionOrder } from './repo.js';
import type { OrderStatus } from './schemas.js';

/** From which statuses each event moves an order, and to which. */
const MOVES: Record<DeliveryEventType, { from: readonly OrderStatus[]; to: OrderStatus }> = {
  'delivery.assigned': { from: ['PENDING'], to: 'CONFIRMED' },
  'delivery.picked_up': { from: ['PENDING', 'CONFIRMED'], to: 'DELIVERING' },
  'delivery.delivered': { from: ['PENDING', 'CONFIRMED', 'DELIVERING'], to: 'DELIVERED' },
  'delivery.failed': { from: ['PENDING', 'CONFIRMED'], to: 'CANCELLED' },
};

/** What applying one event did. */
export type DeliveryOutcome = 'applied' | 'duplicate' | 'skipped';

/** Applies one delivery event to its order in one transaction. */
export function applyDeliveryEvent(
  db: Database.Database,
  rec: LogRecord,
  now = Date.now(),
): { outcome: DeliveryOutcome; confirmedAfterMs?: number } {
  const move = MOVES[rec.type as DeliveryEventType];
  if (move === undefined) return { outcome: 'skipped' };
  return db
    .transaction(() => {
      const order = getOrder(db, rec.key);
      if (order === undefined) return { outcome: 'skipped' as const }; // purged (market moved away)
      // Applied even when the market is frozen: a migration waits for these events in flight to be
      // applied before its last delta copy (docs/kafka.md §Market migration on Kafka), and none is
      // made after, as the delivery service runs no saga step of a frozen market.
      const p = JSON.parse(rec.payload) as Partial<DeliveryPayload>;
      const reason = move.to === 'CANCELLED' ? (p.reason ?? 'delivery failed') : null;
      if (!transitionOrder(db, order.id, move.from, move.to, reason, now)) return { outcome: 'duplicate' as const };
      return move.to === 'CONFIRMED'
        ? { outcome: 'applied' as const, confirmedAfterMs: now - order.created_at }
        : { outcome: 'applied' as const };
    })
    .immediate();
}

/** The order service's consumer handler: applies the event and counts the outcome. */
export function orderSideHandler(deps: { db: Database.Database; metrics: CellMetrics }) {
  return async (rec: LogRecord): Promise<void> => {
    const r = applyDeliveryEvent(deps.db, rec);
    if (r.confirmedAfterMs !== undefined) deps.metrics.acceptToConfirmed.observe(r.confirmedAfterMs / 1000);
    deps.metrics.eventsProcessed.inc({ type: rec.type, outcome: r.outcome });
  };
}
