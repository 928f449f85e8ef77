/**
 * What the order API shows: one order with its history, delivery and saga, and the keyset cursor of
 * a list page. Shared by the `/v1/orders` routes and the reads a peer cell asks during a move by
 * share (share-reads.ts), so both answer the same document.
 */
import type Database from 'better-sqlite3';
import { HttpError } from '../shared/errors.js';
import { getDelivery } from './delivery/repo.js';
import { getHistory, toView, type OrderRow, type OrderView } from './orders/repo.js';
import { getSaga, sagaView } from './saga/repo.js';

/** `GET /v1/orders/:id`'s document. */
export type OrderDetail = OrderView & { delivery: unknown; saga: unknown };

/** An order with its history, delivery and saga. */
export function orderDetail(db: Database.Database, o: OrderRow): OrderDetail {
  const d = getDelivery(db, o.id);
  const s = getSaga(db, o.id);
  return {
    ...toView(o, getHistory(db, o.id)),
    delivery: d ? { status: d.status, courier: d.courier, reason: d.reason } : null,
    saga: s ? sagaView(s) : null,
  };
}

/** The cursor of a list page ending at the order created at `at` (ms) with id `id`. */
export function encodeCursor(at: number, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}

/** A cursor back to `[at, id]`; 400 invalid_request when it is not one {@link encodeCursor} made. */
export function decodeCursor(cursor: string): [number, string] {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && Number.isInteger(v[0]) && typeof v[1] === 'string') return [v[0] as number, v[1]];
  } catch {
    /* fall through */
  }
  throw new HttpError('invalid_request', 'cursor is not a cursor this API returned');
}
