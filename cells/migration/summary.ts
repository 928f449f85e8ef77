/** Market summary (counts, checksum, pending work), freeze and purge. */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { stmt } from '../db/stmt.js';
import type { EventLog } from '../log/types.js';

/** `GET /admin/markets/:m/summary`. */
export interface MarketSummary {
  market: string;
  orders: number;
  deliveries: number;
  checksum: string;
  frozen: boolean;
  pending: { outbox: number; log: number; sagas: number };
}

const count = (db: Database.Database, sql: string, ...args: unknown[]) => (stmt(db, sql).get(...args) as { n: number }).n;

/** Counts, a sha256 over the market's orders (id, status, total, sorted by id), and unfinished work. */
export async function marketSummary(db: Database.Database, log: EventLog, group: string, market: string): Promise<MarketSummary> {
  const hash = createHash('sha256');
  for (const o of stmt(db, 'SELECT id, status, total_cents FROM orders WHERE market = ? ORDER BY id').iterate(market) as IterableIterator<{
    id: string;
    status: string;
    total_cents: number;
  }>) {
    hash.update(`${o.id}:${o.status}:${o.total_cents}\n`);
  }
  let logPending = 0;
  for (let p = 0; p < log.partitions; p++) {
    logPending += count(
      db,
      'SELECT COUNT(*) AS n FROM log WHERE partition = ? AND offset >= ? AND market = ?',
      p,
      await log.committed(group, p),
      market,
    );
  }
  return {
    market,
    orders: count(db, 'SELECT COUNT(*) AS n FROM orders WHERE market = ?', market),
    deliveries: count(db, 'SELECT COUNT(*) AS n FROM deliveries WHERE market = ?', market),
    checksum: hash.digest('hex'),
    frozen: stmt(db, 'SELECT 1 FROM frozen_markets WHERE market = ?').get(market) !== undefined,
    pending: {
      outbox: count(db, 'SELECT COUNT(*) AS n FROM outbox WHERE market = ?', market),
      log: logPending,
      sagas: count(db, 'SELECT COUNT(*) AS n FROM sagas WHERE market = ? AND active = 1', market),
    },
  };
}

/** Freezes (new writes answer 409 market_frozen; background work drains on) or unfreezes a market. */
export function setFrozen(db: Database.Database, market: string, frozen: boolean): void {
  if (frozen) stmt(db, 'INSERT INTO frozen_markets (market, at) VALUES (?, ?) ON CONFLICT (market) DO NOTHING').run(market, Date.now());
  else stmt(db, 'DELETE FROM frozen_markets WHERE market = ?').run(market);
}

/** Deletes every row of a market from this cell (idempotent); returns rows deleted per table. */
export function purgeMarket(db: Database.Database, market: string): Record<string, number> {
  const tables = ['orders', 'order_history', 'idempotency', 'deliveries', 'sagas', 'outbox', 'log', 'frozen_markets', 'market_holds'];
  return db
    .transaction(() => Object.fromEntries(tables.map((t) => [t, stmt(db, `DELETE FROM ${t} WHERE market = ?`).run(market).changes])))
    .immediate();
}
