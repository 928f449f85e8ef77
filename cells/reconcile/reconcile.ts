/**
 * Reconciliation: compares orders with deliveries and repairs from the order side. It
 * re-emits the create event of a stale PENDING order that has no delivery, recreates the
 * delivery (and saga) of an order that is past PENDING but lost its delivery, aligns a
 * delivery whose status disagrees with its order, and cancels deliveries that have no order.
 */
import type Database from 'better-sqlite3';
import { PAUSED_MARKETS, stmt } from '../db/stmt.js';
import { inFrozenBucket, withBucketFn } from '../db/bucket-fn.js';
import { insertDelivery, transitionDelivery, CANCELLABLE_DELIVERY, type DeliveryStatus } from '../delivery/repo.js';
import { insertOutbox, type OrderRow } from '../orders/repo.js';
import type { OrderStatus } from '../orders/schemas.js';
import { insertSaga, moveSaga, ACTIVE_SAGA_STATES, type SagaState } from '../saga/repo.js';

/** What one run found and fixed, by kind. */
export interface ReconcileReport {
  found: Record<ReconcileKind, number>;
  fixed: Record<ReconcileKind, number>;
}

/** The kinds of mismatch reconciliation looks for. */
export type ReconcileKind = 'pendingWithoutDelivery' | 'missingDelivery' | 'statusMismatch' | 'orphanDelivery' | 'missingSaga';

const KINDS: ReconcileKind[] = ['pendingWithoutDelivery', 'missingDelivery', 'statusMismatch', 'orphanDelivery', 'missingSaga'];

/** The delivery status an order's status implies (PENDING: none fixed yet). */
const EXPECTED: Record<Exclude<OrderStatus, 'PENDING'>, DeliveryStatus[]> = {
  CONFIRMED: ['ASSIGNED'],
  DELIVERING: ['PICKED_UP'],
  DELIVERED: ['DELIVERED'],
  CANCELLED: ['CANCELLED', 'FAILED'],
};

/** The saga state an active order's status implies. */
const SAGA_FOR: Partial<Record<OrderStatus, SagaState>> = { CONFIRMED: 'CONFIRMED', DELIVERING: 'DELIVERING' };

/** Runs one reconciliation pass in one transaction; `staleMs` protects orders still in flight. */
export function reconcile(db: Database.Database, opts: { staleMs: number; assignDeadlineMs: number }, now = Date.now()): ReconcileReport {
  const found = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<ReconcileKind, number>;
  const fixed = { ...found };
  db.transaction(() => {
    // Held (just imported) and frozen (being migrated) markets are left alone.
    // Orders in a frozen bucket range (a step of a share move) too.
    withBucketFn(db);
    const notHeld = `market NOT IN ${PAUSED_MARKETS} AND NOT ${inFrozenBucket('o.id', 'o.market')}`;
    // 1. PENDING, old, no delivery, no event waiting in the outbox: the event was lost → emit again.
    const stale = stmt(
      db,
      `SELECT o.* FROM orders o WHERE o.status = 'PENDING' AND o.created_at < ? AND o.${notHeld}
       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = o.id)
       AND NOT EXISTS (SELECT 1 FROM outbox x WHERE x.key = o.id)`,
    ).all(now - opts.staleMs) as OrderRow[];
    for (const o of stale) {
      found.pendingWithoutDelivery++;
      insertOutbox(db, o, 'order.created', `${o.id}:created:reconcile:${now}`, now);
      fixed.pendingWithoutDelivery++;
    }
    // 2. Past PENDING but no delivery: recreate it in the state the order implies.
    const lost = stmt(
      db,
      `SELECT o.* FROM orders o WHERE o.status <> 'PENDING' AND o.${notHeld}
       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = o.id)`,
    ).all() as OrderRow[];
    for (const o of lost) {
      found.missingDelivery++;
      const status = EXPECTED[o.status as Exclude<OrderStatus, 'PENDING'>][0]!;
      insertDelivery(
        db,
        { order_id: o.id, market: o.market, status, courier: status === 'CANCELLED' ? null : 'reconciled', reason: o.cancel_reason },
        now,
      );
      fixed.missingDelivery++;
    }
    // 3. Delivery status disagrees with the order (order side wins).
    const pairs = stmt(
      db,
      `SELECT o.id, o.status AS order_status, o.cancel_reason, d.status AS delivery_status FROM orders o JOIN deliveries d ON d.order_id = o.id
       WHERE o.status <> 'PENDING' AND o.${notHeld}`,
    ).all() as {
      id: string;
      order_status: Exclude<OrderStatus, 'PENDING'>;
      cancel_reason: string | null;
      delivery_status: DeliveryStatus;
    }[];
    for (const p of pairs) {
      const want = EXPECTED[p.order_status];
      if (want.includes(p.delivery_status)) continue;
      found.statusMismatch++;
      const all: DeliveryStatus[] = ['REQUESTED', 'ASSIGNED', 'PICKED_UP', 'DELIVERED', 'FAILED', 'CANCELLED'];
      if (transitionDelivery(db, p.id, all, want[0]!, p.order_status === 'CANCELLED' ? { reason: p.cancel_reason } : {}, now))
        fixed.statusMismatch++;
    }
    // 4. Deliveries without an order: cancel them.
    const orphans = stmt(
      db,
      `SELECT d.order_id FROM deliveries d WHERE d.status IN ('REQUESTED', 'ASSIGNED', 'PICKED_UP')
       AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = d.order_id)`,
    ).all() as { order_id: string }[];
    for (const d of orphans) {
      found.orphanDelivery++;
      if (transitionDelivery(db, d.order_id, CANCELLABLE_DELIVERY, 'CANCELLED', { reason: 'orphaned: no such order' }, now))
        fixed.orphanDelivery++;
      moveSaga(db, d.order_id, ACTIVE_SAGA_STATES, 'CANCELLED', { lastError: 'orphaned' }, now);
    }
    // 5. Unfinished order with a delivery but no active saga to finish it: restart the saga.
    const stuck = stmt(
      db,
      `SELECT o.* FROM orders o JOIN deliveries d ON d.order_id = o.id
       WHERE o.status IN ('PENDING', 'CONFIRMED', 'DELIVERING') AND d.status IN ('REQUESTED', 'ASSIGNED', 'PICKED_UP') AND o.${notHeld}
       AND NOT EXISTS (SELECT 1 FROM sagas s WHERE s.order_id = o.id AND s.active = 1)`,
    ).all() as OrderRow[];
    for (const o of stuck) {
      found.missingSaga++;
      const state = SAGA_FOR[o.status] ?? 'ASSIGNING';
      stmt(db, 'DELETE FROM sagas WHERE order_id = ?').run(o.id);
      insertSaga(db, { order_id: o.id, market: o.market, state, next_at: now, deadline_at: now + opts.assignDeadlineMs }, now);
      fixed.missingSaga++;
    }
  }).immediate();
  return { found, fixed };
}
