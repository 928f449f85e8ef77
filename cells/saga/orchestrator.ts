/**
 * The order saga, orchestrated: ASSIGNING (ask the courier service through its guard) →
 * CONFIRMED (order CONFIRMED) → DELIVERING → DONE (order DELIVERED); no courier, or the
 * dependency unavailable past the deadline → COMPENSATED (order CANCELLED with the reason).
 * State lives in the `sagas` table, so every step resumes after a crash; each step is a
 * compare-and-set transaction, so running it twice changes nothing the second time.
 */
import type Database from 'better-sqlite3';
import type { Logger } from '../../shared/logger.js';
import type { CourierService } from '../delivery/courier.js';
import type { DependencyGuard } from '../delivery/breaker.js';
import type { DeliveryEvent } from '../delivery/events.js';
import { CANCELLABLE_DELIVERY, transitionDelivery } from '../delivery/repo.js';
import { pause } from '../loop.js';
import type { CellMetrics } from '../metrics.js';
import { getOrder, isOrderFrozen, transitionOrder } from '../orders/repo.js';
import { ACTIVE_SAGA_STATES, deferSaga, dueSagas, moveSaga, type SagaRow } from './repo.js';

/** What the orchestrator needs. */
export interface SagaDeps {
  db: Database.Database;
  courier: CourierService;
  guard: DependencyGuard;
  metrics: CellMetrics;
  logger: Logger;
  pickupAfterMs: number;
  deliverAfterMs: number;
  /**
   * The delivery service (`--role delivery`): called inside the transaction of each step that
   * moved the order, to write its delivery event to the outbox. Unset in an all-in-one cell.
   */
  emit?: (e: DeliveryEvent, now: number) => void;
}

/** Cancels an order's saga and delivery (order already cancelled or gone). */
export function cancelSagaAndDelivery(db: Database.Database, orderId: string, reason: string | null): boolean {
  const moved = moveSaga(db, orderId, ACTIVE_SAGA_STATES, 'CANCELLED', { lastError: reason });
  transitionDelivery(db, orderId, CANCELLABLE_DELIVERY, 'CANCELLED', { reason });
  return moved;
}

/** Runs due saga steps; at most `maxInFlight` at once, never two steps of one saga at once. */
export class SagaOrchestrator {
  private readonly inflight = new Set<string>();

  constructor(
    private readonly d: SagaDeps,
    private readonly maxInFlight = 256,
  ) {}

  /** Starts every due step not already running; returns how many started. */
  async tick(now = Date.now()): Promise<number> {
    const room = this.maxInFlight - this.inflight.size;
    if (room <= 0) return 0;
    let started = 0;
    for (const s of dueSagas(this.d.db, now, room + this.inflight.size)) {
      if (this.inflight.has(s.order_id) || this.inflight.size >= this.maxInFlight) continue;
      this.inflight.add(s.order_id);
      started++;
      void this.step(s)
        .catch((err: unknown) => {
          // Push the saga back a little so a step that keeps failing cannot spin the loop.
          this.d.logger.warn({ err, orderId: s.order_id }, 'saga step failed; retrying in 1 s');
          try {
            this.d.db
              .transaction(() => {
                if (!isOrderFrozen(this.d.db, s.market, s.order_id))
                  deferSaga(this.d.db, s.order_id, `step failed: ${(err as Error).message}`, Date.now() + 1000);
              })
              .immediate();
          } catch {
            /* the database itself is failing: the next tick tries again */
          }
        })
        .finally(() => this.inflight.delete(s.order_id));
    }
    return started;
  }

  /** Resolves when no step is running. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await pause(10);
  }

  /**
   * Runs the step the saga is due for. Every write re-checks the freeze in its transaction: a
   * step that started before its market froze changes nothing (it runs again where the market
   * lives next), so a frozen source stays equal to its copy.
   */
  async step(s: SagaRow): Promise<void> {
    if (s.state === 'ASSIGNING') return this.assign(s);
    const { db } = this.d;
    const now = Date.now();
    db.transaction(() => {
      if (isOrderFrozen(db, s.market, s.order_id)) return;
      const o = getOrder(db, s.order_id);
      if (o === undefined || o.status === 'CANCELLED') {
        if (cancelSagaAndDelivery(db, s.order_id, o?.cancel_reason ?? 'order gone'))
          this.d.metrics.sagaOutcomes.inc({ outcome: 'cancelled' });
        return;
      }
      const emit = (type: 'delivery.picked_up' | 'delivery.delivered') =>
        this.d.emit?.({ orderId: s.order_id, market: s.market, type }, now);
      if (s.state === 'CONFIRMED') {
        if (transitionOrder(db, s.order_id, ['CONFIRMED'], 'DELIVERING', null, now)) emit('delivery.picked_up');
        transitionDelivery(db, s.order_id, ['ASSIGNED'], 'PICKED_UP', {}, now);
        moveSaga(db, s.order_id, ['CONFIRMED'], 'DELIVERING', { nextAt: now + this.d.deliverAfterMs }, now);
      } else if (s.state === 'DELIVERING') {
        if (transitionOrder(db, s.order_id, ['DELIVERING'], 'DELIVERED', null, now)) emit('delivery.delivered');
        transitionDelivery(db, s.order_id, ['PICKED_UP', 'ASSIGNED'], 'DELIVERED', {}, now);
        if (moveSaga(db, s.order_id, ['DELIVERING'], 'DONE', {}, now)) this.d.metrics.sagaOutcomes.inc({ outcome: 'delivered' });
      }
    }).immediate();
  }

  private async assign(s: SagaRow): Promise<void> {
    const { db } = this.d;
    const order = getOrder(db, s.order_id);
    if (order === undefined || order.status === 'CANCELLED') {
      const cancelled = db
        .transaction(
          () => !isOrderFrozen(db, s.market, s.order_id) && cancelSagaAndDelivery(db, s.order_id, order?.cancel_reason ?? 'order gone'),
        )
        .immediate();
      if (cancelled) this.d.metrics.sagaOutcomes.inc({ outcome: 'cancelled' });
      return;
    }
    let outcome;
    try {
      outcome = await this.d.guard.execute((signal) => this.d.courier.assign(order, signal));
    } catch (err) {
      const now = Date.now();
      const msg = `delivery unavailable: ${(err as Error).message}`;
      if (now >= s.deadline_at) return this.compensate(s, 'delivery unavailable');
      const backoff = Math.min(100 * 2 ** Math.min(s.attempts, 6), 5000);
      db.transaction(() => {
        if (!isOrderFrozen(db, s.market, s.order_id)) deferSaga(db, s.order_id, msg, now + backoff, now);
      }).immediate();
      return;
    }
    if (!outcome.ok) return this.compensate(s, outcome.reason);
    const now = Date.now();
    db.transaction(() => {
      if (isOrderFrozen(db, s.market, s.order_id)) return; // assigned again where the market lives next
      if (!moveSaga(db, s.order_id, ['ASSIGNING'], 'CONFIRMED', { nextAt: now + this.d.pickupAfterMs, lastError: null }, now)) return;
      transitionDelivery(db, s.order_id, ['REQUESTED'], 'ASSIGNED', { courier: outcome.courier }, now);
      if (transitionOrder(db, s.order_id, ['PENDING'], 'CONFIRMED', null, now)) {
        this.d.metrics.acceptToConfirmed.observe((now - order.created_at) / 1000);
        this.d.emit?.({ orderId: s.order_id, market: s.market, type: 'delivery.assigned', courier: outcome.courier }, now);
      } else if (getOrder(db, s.order_id)?.status === 'CANCELLED') {
        cancelSagaAndDelivery(db, s.order_id, 'cancelled during assignment');
      }
    }).immediate();
  }

  private compensate(s: SagaRow, reason: string): void {
    const { db } = this.d;
    const done = db
      .transaction(() => {
        if (isOrderFrozen(db, s.market, s.order_id)) return false;
        if (!moveSaga(db, s.order_id, ['ASSIGNING'], 'COMPENSATED', { lastError: reason })) return false;
        transitionDelivery(db, s.order_id, ['REQUESTED', 'ASSIGNED'], 'FAILED', { reason });
        if (transitionOrder(db, s.order_id, ['PENDING', 'CONFIRMED'], 'CANCELLED', reason))
          this.d.emit?.({ orderId: s.order_id, market: s.market, type: 'delivery.failed', reason }, Date.now());
        return true;
      })
      .immediate();
    if (done) this.d.metrics.sagaOutcomes.inc({ outcome: 'compensated' });
  }
}
