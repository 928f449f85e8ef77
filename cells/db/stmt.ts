/** Prepared statements cached per connection, and the change sequence every write bumps. */
import type Database from 'better-sqlite3';

const cache = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/** The prepared statement for `sql` on `db`, prepared once per connection. */
export function stmt(db: Database.Database, sql: string): Database.Statement {
  let m = cache.get(db);
  if (m === undefined) {
    m = new Map();
    cache.set(db, m);
  }
  let s = m.get(sql);
  if (s === undefined) {
    s = db.prepare(sql);
    m.set(sql, s);
  }
  return s;
}

/**
 * The next value of the cell's change sequence. Call inside the write transaction that changes a
 * row and store it in the row's `seq`: SQLite serialises writers, so a snapshot taken at sequence
 * C holds exactly the rows with seq ≤ C (the migration change cursor relies on this).
 */
export function nextSeq(db: Database.Database): number {
  const row = stmt(db, `UPDATE counters SET v = v + 1 WHERE name = 'seq' RETURNING v`).get() as { v: number };
  return row.v;
}

/** The current change sequence (the cursor of a snapshot read in the same transaction). */
export function currentSeq(db: Database.Database): number {
  return (stmt(db, `SELECT v FROM counters WHERE name = 'seq'`).get() as { v: number }).v;
}

/** Reads a value of the meta table. */
export function getMeta(db: Database.Database, key: string): string | undefined {
  const row = stmt(db, 'SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

/** Writes a value of the meta table. */
export function setMeta(db: Database.Database, key: string, value: string): void {
  stmt(db, 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

/**
 * SQL sub-select of the markets held after an import: reconciliation leaves them alone for a
 * while, so an imported copy is not "repaired" before the migration's delta copy arrives.
 */
export const HELD_MARKETS = `(SELECT market FROM market_holds WHERE until > unixepoch('subsec') * 1000)`;

/**
 * SQL sub-select of the markets frozen for a migration: their sagas and reconciliation pause
 * (the outbox relay and the consumer drain on), so the source stops changing once its pending
 * work is drained and one delta copy leaves both sides equal.
 */
export const FROZEN_MARKETS = `(SELECT market FROM frozen_markets)`;

/** SQL sub-select of the markets reconciliation leaves alone: held after an import, or frozen. */
export const PAUSED_MARKETS = `(SELECT market FROM market_holds WHERE until > unixepoch('subsec') * 1000 UNION SELECT market FROM frozen_markets)`;
