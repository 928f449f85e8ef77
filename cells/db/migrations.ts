/** The cell schema, versioned in code: each migration runs once, in order, inside one transaction. */
import type Database from 'better-sqlite3';

/** One schema step. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration, oldest first. Never edit a released one: add a new version. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'orders, outbox, log, deliveries, sagas, leases',
    sql: `
      CREATE TABLE counters (name TEXT PRIMARY KEY, v INTEGER NOT NULL);
      INSERT INTO counters (name, v) VALUES ('seq', 0);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE orders (
        id TEXT PRIMARY KEY, market TEXT NOT NULL, customer_id TEXT NOT NULL, items TEXT NOT NULL,
        address TEXT NOT NULL, total_cents INTEGER NOT NULL, status TEXT NOT NULL, cancel_reason TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, seq INTEGER NOT NULL);
      CREATE INDEX orders_list ON orders (market, created_at, id);
      CREATE INDEX orders_status ON orders (market, status, created_at, id);
      CREATE INDEX orders_seq ON orders (market, seq);
      CREATE TABLE order_history (
        order_id TEXT NOT NULL, n INTEGER NOT NULL, market TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
        at INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (order_id, n));
      CREATE INDEX history_seq ON order_history (market, seq);
      CREATE TABLE idempotency (
        market TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL, order_id TEXT NOT NULL,
        created_at INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (market, key));
      CREATE INDEX idempotency_seq ON idempotency (market, seq);
      CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, market TEXT NOT NULL, key TEXT NOT NULL,
        type TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL);
      CREATE INDEX outbox_key ON outbox (key);
      CREATE TABLE log (
        partition INTEGER NOT NULL, offset INTEGER NOT NULL, key TEXT NOT NULL, market TEXT NOT NULL,
        event_id TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (partition, offset));
      CREATE INDEX log_market ON log (market);
      CREATE TABLE log_heads (partition INTEGER PRIMARY KEY, next_offset INTEGER NOT NULL);
      CREATE TABLE consumer_offsets (
        grp TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, PRIMARY KEY (grp, partition));
      CREATE TABLE deliveries (
        order_id TEXT PRIMARY KEY, market TEXT NOT NULL, status TEXT NOT NULL, courier TEXT, reason TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, seq INTEGER NOT NULL);
      CREATE INDEX deliveries_seq ON deliveries (market, seq);
      CREATE TABLE sagas (
        order_id TEXT PRIMARY KEY, market TEXT NOT NULL, state TEXT NOT NULL, active INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, next_at INTEGER NOT NULL, deadline_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, seq INTEGER NOT NULL);
      CREATE INDEX sagas_due ON sagas (active, next_at);
      CREATE INDEX sagas_seq ON sagas (market, seq);
      CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE TABLE frozen_markets (market TEXT PRIMARY KEY, at INTEGER NOT NULL);
    `,
  },
  {
    version: 2,
    name: 'market holds after an import',
    sql: `CREATE TABLE market_holds (market TEXT PRIMARY KEY, until INTEGER NOT NULL);`,
  },
  {
    version: 3,
    name: 'frozen bucket ranges of a market moving by share',
    sql: `CREATE TABLE frozen_buckets (market TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (market, lo, hi));`,
  },
  {
    version: 4,
    name: 'the other cell of a market moving by share, and the buckets it homes',
    sql: `CREATE TABLE share_peers (market TEXT PRIMARY KEY, cell TEXT NOT NULL, urls TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, at INTEGER NOT NULL);`,
  },
];

/** The schema version of `db` (SQLite's user_version). */
export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Applies every migration newer than the database's version, each with its version bump in one
 * IMMEDIATE transaction, so two processes starting on the same file cannot both apply one.
 * Returns the resulting version.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number {
  for (const m of migrations) {
    db.transaction(() => {
      if (schemaVersion(db) >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return schemaVersion(db);
}
