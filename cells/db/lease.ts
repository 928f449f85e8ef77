/**
 * A lease row in the cell database: at most one process (blue or green) runs the cell's
 * background work at a time; when the holder dies, its lease expires and another takes over.
 */
import type Database from 'better-sqlite3';
import { stmt } from './stmt.js';

/** Takes or renews lease `name` for `holder` when it is free, expired or already ours. True when held. */
export function tryAcquireLease(db: Database.Database, name: string, holder: string, ttlMs: number, now = Date.now()): boolean {
  const res = stmt(
    db,
    `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
     WHERE leases.holder = excluded.holder OR leases.expires_at < ?`,
  ).run(name, holder, now + ttlMs, now);
  return res.changes === 1;
}

/** Gives the lease up at once (clean shutdown), so another process need not wait for expiry. */
export function releaseLease(db: Database.Database, name: string, holder: string): void {
  stmt(db, 'DELETE FROM leases WHERE name = ? AND holder = ?').run(name, holder);
}

/** The current holder of `name`, if its lease has not expired. */
export function leaseHolder(db: Database.Database, name: string, now = Date.now()): string | undefined {
  const row = stmt(db, 'SELECT holder, expires_at FROM leases WHERE name = ?').get(name) as
    { holder: string; expires_at: number } | undefined;
  return row && row.expires_at >= now ? row.holder : undefined;
}
