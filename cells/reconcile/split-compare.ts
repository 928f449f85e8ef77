/**
 * The comparison of a split cell's reconciliation (docs/kafka.md §Reconciliation of a split cell):
 * the order service's unfinished orders against what the delivery service holds for them, each
 * mismatch with the idempotent repair the order side can make. Pure: no database, no network
 * (cells/reconcile/split.ts runs it).
 */
import type { DeliveryEventType } from '../delivery/events.js';
import type { DeliveryStatus } from '../delivery/repo.js';
import type { OrderStatus } from '../orders/schemas.js';
import type { ReconcileKind } from './reconcile.js';

/** An unfinished order of the order service, older than the stale bound. */
export interface OrderSide {
  id: string;
  status: Extract<OrderStatus, 'PENDING' | 'CONFIRMED' | 'DELIVERING'>;
  /** An event of this order still waits in the order service's outbox. */
  queued: boolean;
}

/** What the delivery service holds for one order (`POST /admin/reconcile/deliveries`). */
export interface DeliverySide {
  orderId: string;
  status: DeliveryStatus;
  reason: string | null;
  courier: string | null;
  updatedAt: number;
  /** The delivery's saga, or null when it has none. */
  saga: { state: string; active: boolean } | null;
}

/** The repair of one finding: publish `order.created` again, apply a missed delivery event, or none the order side can make. */
export type Repair =
  { kind: 'republish' } | { kind: 'apply'; type: DeliveryEventType; reason?: string | null; courier?: string | null } | { kind: 'none' };

/** One mismatch. */
export interface Finding {
  orderId: string;
  kind: ReconcileKind;
  repair: Repair;
}

/** The delivery event a delivery status implies, from the furthest step back. */
const EVENT_OF: Partial<Record<DeliveryStatus, DeliveryEventType>> = {
  ASSIGNED: 'delivery.assigned',
  PICKED_UP: 'delivery.picked_up',
  DELIVERED: 'delivery.delivered',
  FAILED: 'delivery.failed',
};

/** How far an order status has come (the delivery side's status must be at least as far). */
const ORDER_STEP: Record<OrderSide['status'], number> = { PENDING: 0, CONFIRMED: 1, DELIVERING: 2 };
const DELIVERY_STEP: Record<DeliveryStatus, number> = { REQUESTED: 0, ASSIGNED: 1, PICKED_UP: 2, DELIVERED: 3, FAILED: 3, CANCELLED: 3 };

/**
 * Compares `orders` with `deliveries`. `backlog`: the delivery group still has order events to
 * read, so a PENDING order without a delivery may be among them (not counted). A delivery that
 * moved within `staleMs` of `now` may still have its event on the way (not counted).
 */
export function compareSides(
  orders: readonly OrderSide[],
  deliveries: readonly DeliverySide[],
  opts: { backlog: boolean; staleMs: number; now: number },
): Finding[] {
  const byId = new Map(deliveries.map((d) => [d.orderId, d]));
  const out: Finding[] = [];
  for (const o of orders) {
    const d = byId.get(o.id);
    if (d === undefined) {
      // The delivery side never saw the order (or lost it): its create goes out again, unless an
      // event of it is still on its way (in the outbox; or, for a PENDING one, in the backlog).
      if (o.queued) continue;
      if (o.status !== 'PENDING') out.push({ orderId: o.id, kind: 'missingDelivery', repair: { kind: 'republish' } });
      else if (!opts.backlog) out.push({ orderId: o.id, kind: 'pendingWithoutDelivery', repair: { kind: 'republish' } });
      continue;
    }
    if (d.updatedAt > opts.now - opts.staleMs) continue;
    if (DELIVERY_STEP[d.status] > ORDER_STEP[o.status]) {
      // The order missed a delivery event: apply the one the delivery's status implies.
      const type = EVENT_OF[d.status];
      const repair: Repair =
        type === undefined || (type === 'delivery.failed' && o.status === 'DELIVERING')
          ? { kind: 'none' }
          : { kind: 'apply', type, reason: d.reason, courier: d.courier };
      out.push({ orderId: o.id, kind: 'statusMismatch', repair });
    } else if (d.saga === null || !d.saga.active) {
      // An unfinished delivery nothing drives on: the delivery side must restart its saga.
      out.push({ orderId: o.id, kind: 'missingSaga', repair: { kind: 'none' } });
    }
  }
  return out;
}
