/** SQL of sagas: one row per order, its state, next due time and retry bookkeeping. */
import type Database from 'better-sqlite3';
import { FROZEN_MARKETS, nextSeq, stmt } from '../db/stmt.js';
import { inFrozenBucket, withBucketFn } from '../db/bucket-fn.js';

/** Saga states; the first three are active (work remains), the rest are final. */
export type SagaState = 'ASSIGNING' | 'CONFIRMED' | 'DELIVERING' | 'DONE' | 'COMPENSATED' | 'CANCELLED';
/** States in which a saga still has work to do. */
export const ACTIVE_SAGA_STATES: readonly SagaState[] = ['ASSIGNING', 'CONFIRMED', 'DELIVERING'];

/** A saga row. */
export interface SagaRow {
  order_id: string;
  market: string;
  state: SagaState;
  active: number;
  attempts: number;
  last_error: string | null;
  next_at: number;
  deadline_at: number;
  created_at: number;
  updated_at: number;
  seq: number;
}

/** The saga as the API shows it. */
export interface SagaView {
  state: SagaState;
  active: boolean;
  attempts: number;
  lastError: string | null;
  nextAt: string | null;
}

/** Row → API view. */
export function sagaView(s: SagaRow): SagaView {
  return {
    state: s.state,
    active: s.active === 1,
    attempts: s.attempts,
    lastError: s.last_error,
    nextAt: s.active === 1 ? new Date(s.next_at).toISOString() : null,
  };
}

/** The saga of an order, if any. */
export function getSaga(db: Database.Database, orderId: string): SagaRow | undefined {
  return stmt(db, 'SELECT * FROM sagas WHERE order_id = ?').get(orderId) as SagaRow | undefined;
}

/** Starts a saga in `state` unless the order has one; true when created. */
export function insertSaga(
  db: Database.Database,
  s: { order_id: string; market: string; state?: SagaState; next_at: number; deadline_at: number },
  now = Date.now(),
): boolean {
  return (
    stmt(
      db,
      `INSERT INTO sagas (order_id, market, state, active, attempts, last_error, next_at, deadline_at, created_at, updated_at, seq)
       VALUES (?, ?, ?, 1, 0, NULL, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING`,
    ).run(s.order_id, s.market, s.state ?? 'ASSIGNING', s.next_at, s.deadline_at, now, now, nextSeq(db)).changes === 1
  );
}

/** Moves a saga from `from` to `to` (compare-and-set); final states become inactive. True when it moved. */
export function moveSaga(
  db: Database.Database,
  orderId: string,
  from: readonly SagaState[],
  to: SagaState,
  opts: { nextAt?: number; lastError?: string | null } = {},
  now = Date.now(),
): boolean {
  const s = getSaga(db, orderId);
  if (s === undefined || !from.includes(s.state)) return false;
  const active = ACTIVE_SAGA_STATES.includes(to) ? 1 : 0;
  stmt(
    db,
    'UPDATE sagas SET state = ?, active = ?, attempts = 0, last_error = ?, next_at = ?, updated_at = ?, seq = ? WHERE order_id = ?',
  ).run(to, active, opts.lastError === undefined ? s.last_error : opts.lastError, opts.nextAt ?? now, now, nextSeq(db), orderId);
  return true;
}

/** Records a failed attempt and when to try again. */
export function deferSaga(db: Database.Database, orderId: string, error: string, nextAt: number, now = Date.now()): void {
  stmt(
    db,
    'UPDATE sagas SET attempts = attempts + 1, last_error = ?, next_at = ?, updated_at = ?, seq = ? WHERE order_id = ? AND active = 1',
  ).run(error, nextAt, now, nextSeq(db), orderId);
}

/**
 * Active sagas due by `now`, except those of frozen markets: a market frozen for a migration
 * must stop changing in its source (its sagas move with their rows and resume in the target,
 * or here again when the migration rolls back and unfreezes it).
 */
export function dueSagas(db: Database.Database, now: number, limit: number): SagaRow[] {
  // Sagas of a frozen market, or of an order in a frozen bucket range (a step of a share move), wait.
  withBucketFn(db);
  return stmt(
    db,
    `SELECT * FROM sagas WHERE active = 1 AND next_at <= ? AND market NOT IN ${FROZEN_MARKETS}
     AND NOT ${inFrozenBucket('sagas.order_id', 'sagas.market')} ORDER BY next_at LIMIT ?`,
  ).all(now, limit) as SagaRow[];
}
