/**
 * The outbox relay: moves outbox rows, oldest first, into the partitioned log, then deletes
 * them. Append and delete are two steps, as with a real broker: a crash between them appends
 * the rows again (at-least-once), which the idempotent consumer absorbs.
 */
import type Database from 'better-sqlite3';
import { stmt } from '../db/stmt.js';
import type { EventLog } from '../log/types.js';

/** A row of the `outbox` table. */
export interface OutboxRow {
  id: number;
  event_id: string;
  market: string;
  key: string;
  type: string;
  payload: string;
  created_at: number;
}

/** Moves up to `batch` outbox rows to `log`; returns how many. */
export async function relayOnce(db: Database.Database, log: EventLog, batch = 500): Promise<number> {
  const rows = stmt(db, 'SELECT * FROM outbox ORDER BY id LIMIT ?').all(batch) as OutboxRow[];
  if (rows.length === 0) return 0;
  await log.append(
    rows.map((r) => ({ key: r.key, market: r.market, eventId: r.event_id, type: r.type, payload: r.payload, createdAt: r.created_at })),
  );
  // Outbox ids grow in commit order (SQLite has one writer at a time), so everything ≤ the last id read was read.
  stmt(db, 'DELETE FROM outbox WHERE id <= ?').run(rows[rows.length - 1]!.id);
  return rows.length;
}
