/**
 * Reconciliation of a split cell, run by its order service
 * (docs/kafka.md §Reconciliation of a split cell): its unfinished orders older than the stale
 * bound, compared with what the delivery service holds for them (read through
 * cells/reconcile/delivery-client.ts), and the idempotent repairs the order side can make:
 * `order.created` published again through the outbox (the delivery side's handler creates a
 * delivery only when it has none), or a missed delivery event applied by the order side's own
 * compare-and-set handler.
 */
import type Database from 'better-sqlite3';
import { PAUSED_MARKETS, stmt } from '../db/stmt.js';
import { inFrozenBucket, withBucketFn } from '../db/bucket-fn.js';
import type { DeliveryPayload } from '../delivery/events.js';
import { applyDeliveryEvent } from '../orders/delivery-handler.js';
import { getOrder, insertOutbox } from '../orders/repo.js';
import type { ReconcileKind, ReconcileReport } from './reconcile.js';
import type { DeliveryReader } from './delivery-client.js';
import { compareSides, type Finding, type OrderSide } from './split-compare.js';

/** Orders compared per run (oldest first); the rest wait for the next run. */
export const SPLIT_BATCH = 2000;

const KINDS: ReconcileKind[] = ['pendingWithoutDelivery', 'missingDelivery', 'statusMismatch', 'orphanDelivery', 'missingSaga'];

/** What a split reconciliation reads and writes. */
export interface SplitDeps {
  db: Database.Database;
  reader: DeliveryReader;
  /** The delivery group's backlog on the orders topic (records not yet read). */
  backlog(): Promise<number>;
  staleMs: number;
}

/** Runs one pass: compare, then repair each finding in its own transaction. */
export async function reconcileSplit(d: SplitDeps, now = Date.now()): Promise<ReconcileReport> {
  const found = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<ReconcileKind, number>;
  const fixed = { ...found };
  // Held (just imported) and frozen (being migrated) markets are left alone, as in an all-in-one cell.
  withBucketFn(d.db);
  const orders = stmt(
    d.db,
    `SELECT o.id, o.status, EXISTS (SELECT 1 FROM outbox x WHERE x.key = o.id) AS queued FROM orders o
     WHERE o.status IN ('PENDING', 'CONFIRMED', 'DELIVERING') AND o.created_at < ? AND o.market NOT IN ${PAUSED_MARKETS} AND NOT ${inFrozenBucket('o.id', 'o.market')}
     ORDER BY o.created_at, o.id LIMIT ${SPLIT_BATCH}`,
  )
    .all(now - d.staleMs)
    .map((r) => {
      const row = r as { id: string; status: OrderSide['status']; queued: number };
      return { id: row.id, status: row.status, queued: row.queued === 1 };
    });
  if (!orders.length) return { found, fixed };
  const backlog = (await d.backlog()) > 0;
  const deliveries = await d.reader.read(orders.map((o) => o.id));
  for (const f of compareSides(orders, deliveries, { backlog, staleMs: d.staleMs, now })) {
    found[f.kind]++;
    if (repair(d.db, f, now)) fixed[f.kind]++;
  }
  return { found, fixed };
}

/** Makes one finding's repair; true when it changed something. */
function repair(db: Database.Database, f: Finding, now: number): boolean {
  const r = f.repair;
  if (r.kind === 'none') return false;
  if (r.kind === 'republish') {
    return db
      .transaction(() => {
        const o = getOrder(db, f.orderId);
        if (o === undefined || !['PENDING', 'CONFIRMED', 'DELIVERING'].includes(o.status)) return false;
        insertOutbox(db, o, 'order.created', `${o.id}:created:reconcile:${now}`, now);
        return true;
      })
      .immediate();
  }
  const o = getOrder(db, f.orderId);
  if (o === undefined) return false;
  const payload: DeliveryPayload = { orderId: o.id, market: o.market, type: r.type, at: now };
  if (r.courier) payload.courier = r.courier;
  if (r.type === 'delivery.failed') payload.reason = r.reason ?? 'delivery failed';
  const rec = {
    key: o.id,
    market: o.market,
    eventId: `${o.id}:${r.type}:reconcile`,
    type: r.type,
    payload: JSON.stringify(payload),
    createdAt: now,
    partition: -1,
    offset: -1,
  };
  return applyDeliveryEvent(db, rec, now).outcome === 'applied';
}
