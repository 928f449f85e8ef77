/**
 * Market import: an export stream validated in full, then upserted. Idempotent (the same stream
 * twice leaves the same state); every line is validated before the first write, so a bad stream
 * writes nothing.
 *
 * Both steps give the event loop a turn every {@link ROWS_PER_TURN} rows, and the rows are
 * written in transactions of that many: the cell keeps answering its own markets while a big
 * market arrives (one transaction of a 10,000-order market stalled the cell's requests for
 * ~1.1 s, and Envoy's 2 s route timeout answered 504 on a loaded machine). A target cell does
 * not serve the market before the migration's flip, so nobody reads the rows in between; the
 * market's hold is written first, so no imported saga or reconciliation runs on a half import. An
 * import cut short (a crash) leaves rows the migration's rollback purges, or the retried import
 * overwrites.
 */
import type Database from 'better-sqlite3';
import { HttpError } from '../../shared/errors.js';
import { nextSeq, stmt } from '../db/stmt.js';
import { issuesDetails } from '../http/body.js';
import { experimentBucket } from '../../shared/experiment.js';
import { LineSchema, TABLES, type DataLine } from './rows.js';
import type { BucketRange } from './buckets.js';
import { ROWS_PER_TURN, nextTurn } from './turns.js';

/** Result of an import: rows written and the cursor the stream carried. */
export interface ImportResult {
  rows: number;
  cursor: number;
}

/**
 * Parses and checks an NDJSON export of `market`: header first, end last with the right row
 * count, every row of the market and of one of the line `types` this process takes (all of them
 * when not given).
 */
export async function parseExport(
  text: string,
  market: string,
  types?: readonly DataLine['type'][],
): Promise<{ rows: DataLine[]; cursor: number }> {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const rows: DataLine[] = [];
  let header = false;
  let end: { cursor: number; rows: number } | undefined;
  for (const [i, raw] of lines.entries()) {
    if (i > 0 && i % ROWS_PER_TURN === 0) await nextTurn();
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new HttpError('invalid_json', `line ${i + 1} is not valid JSON`);
    }
    const res = LineSchema.safeParse(value);
    if (!res.success) {
      throw new HttpError('invalid_request', `line ${i + 1} is not a valid export line`, { details: issuesDetails(res.error.issues) });
    }
    const line = res.data;
    if (end !== undefined) throw new HttpError('invalid_request', `line ${i + 1} follows the end line`);
    if (line.type === 'header') {
      if (i !== 0) throw new HttpError('invalid_request', 'the header must be the first line');
      if (line.market !== market) throw new HttpError('invalid_request', `stream is for market ${line.market}, not ${market}`);
      header = true;
    } else if (line.type === 'end') {
      end = line;
    } else {
      if (line.market !== market) throw new HttpError('invalid_request', `line ${i + 1} belongs to market ${line.market}`);
      if (types && !types.includes(line.type)) {
        throw new HttpError('invalid_request', `line ${i + 1} is a ${line.type} row; this process takes ${types.join(', ')} rows`);
      }
      rows.push(line);
    }
  }
  if (!header) throw new HttpError('invalid_request', 'missing header line');
  if (end === undefined) throw new HttpError('invalid_request', 'missing end line (truncated stream?)');
  if (end.rows !== rows.length) throw new HttpError('invalid_request', `end line announces ${end.rows} rows, stream has ${rows.length}`);
  return { rows, cursor: end.cursor };
}

/**
 * Upserts the rows of a parsed export, {@link ROWS_PER_TURN} per transaction. Imported active
 * sagas wait at least `holdMs` before their next step, and reconciliation leaves the market alone
 * as long: the copy stays equal to its source until the migration's delta copy (the source keeps
 * running them meanwhile).
 *
 * With `range` (a step of a market moving by share, docs/weighted-shifts.md §Market moves by share)
 * every row must belong to an order of that bucket range, and the market is not held: the cell
 * already serves the market's other buckets, whose sagas go on; the imported sagas still wait
 * `holdMs` each.
 */
export async function importRows(
  db: Database.Database,
  market: string,
  parsed: { rows: DataLine[]; cursor: number },
  holdMs: number,
  range?: BucketRange,
): Promise<ImportResult> {
  await refuseForeignRows(db, market, parsed.rows);
  if (range !== undefined) refuseOutOfRange(db, market, parsed.rows, range);
  const holdUntil = Date.now() + holdMs;
  const write = db.transaction((chunk: readonly DataLine[]) => {
    for (const line of chunk) {
      const row = line.type === 'saga' && line.active === 1 ? { ...line, next_at: Math.max(line.next_at, holdUntil) } : line;
      const { type, ...cols } = row;
      const { table, keys } = TABLES[type];
      const names = [...Object.keys(cols), 'seq'];
      const updates = names.filter((n) => !keys.includes(n)).map((n) => `${n} = excluded.${n}`);
      const sql = `INSERT INTO ${table} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})
        ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ${updates.join(', ')}`;
      stmt(db, sql).run(...Object.values(cols), nextSeq(db));
    }
  });
  // The hold first: no imported saga or reconciliation pass runs on a half-written market.
  if (range === undefined)
    stmt(db, 'INSERT INTO market_holds (market, until) VALUES (?, ?) ON CONFLICT (market) DO UPDATE SET until = excluded.until').run(
      market,
      holdUntil,
    );
  for (let i = 0; i < parsed.rows.length; i += ROWS_PER_TURN) {
    if (i > 0) await nextTurn();
    write.immediate(parsed.rows.slice(i, i + ROWS_PER_TURN));
  }
  return { rows: parsed.rows.length, cursor: parsed.cursor };
}

/**
 * Refuses (`409 conflict`, nothing written) a stream whose rows would take over another market's
 * rows in this cell: orders, their history, deliveries and sagas are keyed by order ID alone, so
 * an upsert would move the row to this market.
 */
async function refuseForeignRows(db: Database.Database, market: string, rows: readonly DataLine[]): Promise<void> {
  const ids = [
    ...new Set(rows.map((r) => (r.type === 'order' || r.type === 'fact' ? r.id : r.type === 'idempotency' ? undefined : r.order_id))),
  ].filter((id): id is string => id !== undefined);
  const checks = [
    ['orders', 'id'],
    ['order_history', 'order_id'],
    ['deliveries', 'order_id'],
    ['sagas', 'order_id'],
  ] as const;
  for (let i = 0; i < ids.length; i += ROWS_PER_TURN) {
    if (i > 0) await nextTurn();
    const chunk = ids.slice(i, i + ROWS_PER_TURN);
    const marks = chunk.map(() => '?').join(', ');
    for (const [table, key] of checks) {
      const hit = db
        .prepare(`SELECT ${key} AS id, market FROM ${table} WHERE ${key} IN (${marks}) AND market != ? LIMIT 1`)
        .get(...chunk, market) as { id: string; market: string } | undefined;
      if (hit !== undefined) {
        throw new HttpError(
          'conflict',
          `order ${hit.id} belongs to market ${hit.market} in this cell, not ${market}; nothing was imported`,
        );
      }
    }
  }
}

/**
 * Refuses (`400 invalid_request`, nothing written) a range import with a row outside `r`: an order
 * whose customer's bucket is not in it, or a row of an order neither in the stream's orders of the
 * range nor in this cell's.
 */
function refuseOutOfRange(db: Database.Database, market: string, rows: readonly DataLine[], r: BucketRange): void {
  const inRange = (customer: string) => {
    const b = experimentBucket(customer);
    return r.from <= b && b < r.to;
  };
  const ids = new Set<string>();
  for (const row of rows) {
    if (row.type !== 'order') continue;
    if (!inRange(row.customer_id))
      throw new HttpError('invalid_request', `order ${row.id} is not in buckets [${r.from}, ${r.to}); nothing was imported`);
    ids.add(row.id);
  }
  const known = db.prepare('SELECT customer_id FROM orders WHERE id = ? AND market = ?');
  for (const row of rows) {
    if (row.type === 'order' || row.type === 'fact') continue;
    const id = row.order_id;
    if (ids.has(id)) continue;
    const o = known.get(id, market) as { customer_id: string } | undefined;
    if (o === undefined || !inRange(o.customer_id))
      throw new HttpError(
        'invalid_request',
        `a ${row.type} row of order ${id} is not in buckets [${r.from}, ${r.to}); nothing was imported`,
      );
    ids.add(id);
  }
}
