/** Opening a cell's own SQLite database: WAL, busy timeout, migrated to the newest schema. */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrate } from './migrations.js';
import { withBucketFn } from './bucket-fn.js';

/** A cell database connection (better-sqlite3, synchronous). */
export type Db = Database.Database;

/** The database file inside a cell's data directory. */
export function dbFile(dataDir: string): string {
  return join(dataDir, 'cell.sqlite');
}

/**
 * Opens (creating if needed) the cell database in `dataDir`: WAL journal so readers never block
 * the writer and two processes can share the file, `synchronous=NORMAL` (a committed transaction
 * survives a process crash), a busy timeout so concurrent writers wait instead of failing, and
 * every pending migration applied.
 */
export function openDb(dataDir: string, opts: { migrate?: boolean } = {}): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(dbFile(dataDir), { timeout: 10_000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  if (opts.migrate !== false) migrate(db);
  return withBucketFn(db);
}
