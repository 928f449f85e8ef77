/**
 * Order commands. Each runs in one IMMEDIATE transaction that writes the order change and its
 * outgoing event together (transactional outbox), so an accepted order always has its event.
 */
import { createHash, randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { HttpError } from '../../shared/errors.js';
import {
  getHistory,
  getIdempotency,
  getOrder,
  insertIdempotency,
  insertOrder,
  insertOutbox,
  isBucketFrozen,
  isFrozen,
  toView,
  transitionOrder,
  type OrderView,
} from './repo.js';
import type { CreateOrder } from './schemas.js';

/** Canonical JSON (sorted keys) so the same body in another key order hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const obj = v as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function frozenError(market: string): HttpError {
  return new HttpError('market_frozen', `market ${market} is frozen for a migration; retry shortly`, { headers: { 'retry-after': '1' } });
}

/**
 * Checked inside a write's transaction with the order's market and customer: throws to refuse the
 * write (a forwarded write of an order whose bucket this cell does not home, cells/order-writes.ts).
 */
export type HomeGuard = (market: string, customerId: string) => void;

/** Result of {@link createOrder}: the order, and whether this call created it. */
export interface CreateResult {
  order: OrderView;
  created: boolean;
}

/**
 * Creates an order for `market` under idempotency key `key`. The same key with the same body
 * returns the first order (created: false); with another body, `422 idempotency_conflict`.
 * A frozen market, or a frozen bucket of the customer's (a market moving by share), answers
 * `409 market_frozen` and writes nothing; so does a refusal of `guard`.
 */
export function createOrder(
  db: Database.Database,
  market: string,
  key: string,
  body: CreateOrder,
  now = Date.now(),
  guard?: HomeGuard,
): CreateResult {
  const hash = createHash('sha256').update(canonicalJson(body)).digest('hex');
  return db
    .transaction((): CreateResult => {
      guard?.(market, body.customerId);
      if (isFrozen(db, market) || isBucketFrozen(db, market, body.customerId)) throw frozenError(market);
      const prior = getIdempotency(db, market, key);
      if (prior !== undefined) {
        if (prior.body_hash !== hash) {
          throw new HttpError('idempotency_conflict', 'Idempotency-Key was already used with another body');
        }
        const o = getOrder(db, prior.order_id);
        if (o === undefined) throw new HttpError('internal', 'idempotency record points to a missing order');
        return { order: toView(o, getHistory(db, o.id)), created: false };
      }
      const id = `ord_${randomUUID()}`;
      const total = body.items.reduce((s, i) => s + i.qty * i.priceCents, 0);
      const row = {
        id,
        market,
        customer_id: body.customerId,
        items: JSON.stringify(body.items),
        address: body.address,
        total_cents: total,
        created_at: now,
      };
      insertOrder(db, row);
      insertIdempotency(db, { market, key, body_hash: hash, order_id: id }, now);
      insertOutbox(db, row, 'order.created', `${id}:created`, now);
      const o = getOrder(db, id)!;
      return { order: toView(o, getHistory(db, id)), created: true };
    })
    .immediate();
}

/**
 * Cancels an order that is PENDING or CONFIRMED (emitting `order.cancelled`); an order already
 * CANCELLED is returned as it is; one on its way or delivered is `409 conflict`. An order of
 * another market than `market` (when given) is unknown here: `404`. A refusal of `guard` writes nothing.
 */
export function cancelOrder(
  db: Database.Database,
  id: string,
  reason: string,
  market?: string,
  now = Date.now(),
  guard?: HomeGuard,
): OrderView {
  return db
    .transaction((): OrderView => {
      const o = getOrder(db, id);
      if (o === undefined || (market !== undefined && o.market !== market)) throw new HttpError('not_found', `order ${id} not found`);
      guard?.(o.market, o.customer_id);
      if (o.status === 'CANCELLED') return toView(o, getHistory(db, id));
      if (isFrozen(db, o.market) || isBucketFrozen(db, o.market, o.customer_id)) throw frozenError(o.market);
      if (!transitionOrder(db, id, ['PENDING', 'CONFIRMED'], 'CANCELLED', reason, now)) {
        throw new HttpError('conflict', `order ${id} is ${o.status} and can no longer be cancelled`);
      }
      insertOutbox(db, { ...o, cancel_reason: reason }, 'order.cancelled', `${id}:cancelled`, now);
      return toView(getOrder(db, id)!, getHistory(db, id));
    })
    .immediate();
}
