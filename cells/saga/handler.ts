/**
 * The delivery consumer's log handler, where a saga starts and is cancelled: an order's create
 * requests its delivery and starts its saga, its cancel ends both. Idempotent and
 * order-tolerant: a duplicated event creates nothing new (the delivery's primary key is the
 * order ID); a cancel that arrives before its create leaves a CANCELLED delivery, so the late
 * create is absorbed.
 */
import type Database from 'better-sqlite3';
import type { LogRecord } from '../log/types.js';
import type { CellMetrics } from '../metrics.js';
import { getOrder } from '../orders/repo.js';
import { cancelSagaAndDelivery } from './orchestrator.js';
import { insertSaga } from './repo.js';
import { getDelivery, insertDelivery } from '../delivery/repo.js';

/** What handling one event did. */
export type HandleOutcome = 'applied' | 'duplicate' | 'skipped';

/** Applies one order event in one transaction. */
export function applyOrderEvent(db: Database.Database, rec: LogRecord, assignDeadlineMs: number, now = Date.now()): HandleOutcome {
  return db
    .transaction((): HandleOutcome => {
      const order = getOrder(db, rec.key);
      if (order === undefined) return 'skipped'; // purged (market moved away)
      if (rec.type === 'order.created') {
        const cancelled = order.status === 'CANCELLED';
        const created = insertDelivery(
          db,
          {
            order_id: order.id,
            market: order.market,
            status: cancelled ? 'CANCELLED' : 'REQUESTED',
            reason: cancelled ? order.cancel_reason : null,
          },
          now,
        );
        if (!created) return 'duplicate';
        if (!cancelled)
          insertSaga(db, { order_id: order.id, market: order.market, next_at: now, deadline_at: now + assignDeadlineMs }, now);
        return 'applied';
      }
      if (rec.type === 'order.cancelled') {
        if (getDelivery(db, order.id) === undefined) {
          insertDelivery(db, { order_id: order.id, market: order.market, status: 'CANCELLED', reason: order.cancel_reason }, now);
          return 'applied';
        }
        return cancelSagaAndDelivery(db, order.id, order.cancel_reason) ? 'applied' : 'duplicate';
      }
      return 'skipped';
    })
    .immediate();
}

/** The consumer handler: applies the event and counts the outcome. */
export function deliveryHandler(deps: { db: Database.Database; metrics: CellMetrics; assignDeadlineMs: number }) {
  return async (rec: LogRecord): Promise<void> => {
    const outcome = applyOrderEvent(deps.db, rec, deps.assignDeadlineMs);
    deps.metrics.eventsProcessed.inc({ type: rec.type, outcome });
  };
}
