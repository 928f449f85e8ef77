/** Market summary (counts, checksum, pending work), freeze and purge. */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { currentSeq, stmt } from '../db/stmt.js';
import { SqliteLog } from '../log/sqlite-log.js';
import { marketLag, type EventLog } from '../log/types.js';
import { ROWS_PER_TURN, nextTurn } from './turns.js';

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

/** What a process remembers of one market's orders: a hash per order, their sum, and the last seq folded in. */
interface ChecksumState {
  seq: number;
  hashes: Map<string, bigint>;
  sum: bigint;
}

const MOD = 1n << 128n;
const checksums = new WeakMap<Database.Database, Map<string, ChecksumState>>();

/** One order's term of the checksum: its sha256 over (id, status, total), first 128 bits. */
export function orderHash(o: { id: string; status: string; total_cents: number }): bigint {
  return BigInt(`0x${createHash('sha256').update(`${o.id}:${o.status}:${o.total_cents}`).digest('hex').slice(0, 32)}`);
}

function stateOf(db: Database.Database, market: string): { perDb: Map<string, ChecksumState>; st: ChecksumState } {
  let perDb = checksums.get(db);
  if (!perDb) checksums.set(db, (perDb = new Map<string, ChecksumState>()));
  return { perDb, st: perDb.get(market) ?? { seq: 0, hashes: new Map<string, bigint>(), sum: 0n } };
}

/** Folds orders of `market` with seq > `st.seq` into `st` (at most `limit`, in seq order); answers how many. */
function fold(db: Database.Database, st: ChecksumState, market: string, limit = -1): number {
  let n = 0;
  let last = st.seq;
  for (const o of stmt(db, 'SELECT id, status, total_cents, seq FROM orders WHERE market = ? AND seq > ? ORDER BY seq LIMIT ?').iterate(
    market,
    st.seq,
    limit,
  ) as IterableIterator<{ id: string; status: string; total_cents: number; seq: number }>) {
    const h = orderHash(o);
    st.sum = (st.sum - (st.hashes.get(o.id) ?? 0n) + h + MOD) % MOD;
    st.hashes.set(o.id, h);
    last = o.seq;
    n += 1;
  }
  st.seq = last;
  return n;
}

/**
 * Folds the market's changed orders into its checksum state {@link ROWS_PER_TURN} at a time, with a
 * turn of the event loop between chunks, so the consistent read of {@link ordersChecksum} that
 * follows has little left to do. Hashing a market's 10,000 orders in one go stalled the cell's
 * requests for ~0.6 s at the first summary of a migration. Each chunk is one read transaction,
 * and every order with seq ≤ the state's seq is folded in (orders are read in seq order).
 */
export async function warmOrdersChecksum(db: Database.Database, market: string): Promise<void> {
  const { perDb, st } = stateOf(db, market);
  perDb.set(market, st);
  const chunk = db.transaction(() => fold(db, st, market, ROWS_PER_TURN));
  try {
    while (chunk.deferred() === ROWS_PER_TURN) await nextTurn();
  } catch (err) {
    perDb.delete(market); // possibly half folded: start over next time
    throw err;
  }
}

/**
 * The market's order checksum: the sum (mod 2^128) of a sha256 per order over (id, status,
 * total), so it does not depend on order and is kept up to date incrementally: each call folds
 * in only the orders whose seq grew since the last one (one indexed range read; the freeze
 * window of a migration compares both sides with it). Rebuilt from scratch when rows vanished
 * (a purge, possibly by the other process on this database), seen as a count mismatch.
 */
export function ordersChecksum(db: Database.Database, market: string): { orders: number; checksum: string } {
  const { perDb, st: held } = stateOf(db, market);
  const read = db.transaction(() => {
    let st = held;
    const seq = currentSeq(db);
    fold(db, st, market);
    const orders = count(db, 'SELECT COUNT(*) AS n FROM orders WHERE market = ?', market);
    if (st.hashes.size !== orders) {
      st = { seq: 0, hashes: new Map(), sum: 0n };
      fold(db, st, market);
    }
    st.seq = seq;
    perDb.set(market, st);
    return { orders, checksum: st.sum.toString(16).padStart(32, '0') };
  });
  try {
    return read.deferred();
  } catch (err) {
    perDb.delete(market); // possibly half folded: start over next time
    throw err;
  }
}

/**
 * The market's events on `log` that `group` has not consumed: one count per partition of the
 * cell's own log table, or read from the broker for a Kafka topic ({@link marketLag}).
 */
async function logPendingOf(db: Database.Database, log: EventLog, group: string, market: string): Promise<number> {
  if (!(log instanceof SqliteLog)) return marketLag(log, group, market);
  let n = 0;
  for (let p = 0; p < log.partitions; p++) {
    n += count(
      db,
      'SELECT COUNT(*) AS n FROM log WHERE partition = ? AND offset >= ? AND market = ?',
      p,
      await log.committed(group, p),
      market,
    );
  }
  return n;
}

/**
 * Counts, the incremental order checksum ({@link ordersChecksum}), and unfinished work: `log` is
 * the log this process's outbox publishes to and `group` the consumer group that reads it, so
 * `pending` is this process's share of the market's events in flight (a split cell's order service:
 * the orders topic and group `delivery`; its delivery service: the deliveries topic and group
 * `order`).
 */
export async function marketSummary(db: Database.Database, log: EventLog, group: string, market: string): Promise<MarketSummary> {
  await warmOrdersChecksum(db, market);
  const { orders, checksum } = ordersChecksum(db, market);
  const logPending = await logPendingOf(db, log, group, market);
  return {
    market,
    orders,
    deliveries: count(db, 'SELECT COUNT(*) AS n FROM deliveries WHERE market = ?', market),
    checksum,
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

/**
 * Deletes every row of a market from this cell (idempotent); returns rows deleted per table.
 * {@link ROWS_PER_TURN} rows per transaction with a turn of the event loop between them, like the
 * import: a market of 10,000 orders is ~50,000 rows. The market's freeze and hold rows go last,
 * so a purge cut short leaves a market that is still frozen or held, and the next purge finishes it.
 */
export async function purgeMarket(db: Database.Database, market: string): Promise<Record<string, number>> {
  const tables = [
    'orders',
    'order_history',
    'idempotency',
    'deliveries',
    'sagas',
    'outbox',
    'log',
    'frozen_markets',
    'frozen_buckets',
    'market_holds',
    'share_peers',
  ];
  const purged: Record<string, number> = {};
  for (const t of tables) {
    const del = stmt(db, `DELETE FROM ${t} WHERE rowid IN (SELECT rowid FROM ${t} WHERE market = ? LIMIT ${ROWS_PER_TURN})`);
    purged[t] = 0;
    for (;;) {
      const n = db.transaction(() => del.run(market).changes).immediate();
      purged[t] += n;
      if (n < ROWS_PER_TURN) break;
      await nextTurn();
    }
  }
  return purged;
}
