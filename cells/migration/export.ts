/**
 * Market export: a consistent snapshot (one read transaction on a dedicated connection, so
 * writers go on meanwhile) streamed as NDJSON, with the change cursor of the snapshot. With
 * `since`, only rows changed after that cursor (the delta of a migration). The snapshot is read
 * 64 KB at a time with a turn of the event loop between chunks: the HTTP response's reader pulls
 * the next chunk in a microtask, so without it a 10,000-order export ran as one ~0.6 s stall of
 * the cell's request handling.
 */
import Database from 'better-sqlite3';
import { dbFile } from '../db/open.js';
import { currentSeq } from '../db/stmt.js';
import { orderInRange, withBucketFn, type BucketRange } from './buckets.js';
import { ROW_TYPES, TABLES, type DataLine } from './rows.js';
import { nextTurn } from './turns.js';

/**
 * Yields NDJSON text chunks: header, every row of the market (changed after `since`) of the line
 * `types` (an all-in-one cell's by default; rows.ts `ROW_TYPES_OF` per kind of process), end.
 * With `buckets`, only the rows of orders whose customer's bucket is in that range (buckets.ts);
 * a delivery service's order facts carry no customer, so `fact` lines cannot be exported by bucket.
 */
export async function* exportMarket(
  dataDir: string,
  market: string,
  since?: number,
  types: readonly DataLine['type'][] = ROW_TYPES,
  buckets?: BucketRange,
): AsyncGenerator<string> {
  const db = new Database(dbFile(dataDir), { readonly: true, timeout: 10_000 });
  if (buckets !== undefined) withBucketFn(db);
  try {
    db.exec('BEGIN');
    const cursor = currentSeq(db); // first read fixes the snapshot
    yield `${JSON.stringify({ type: 'header', market, cursor, ...(since === undefined ? {} : { since }) })}\n`;
    let rows = 0;
    let buf = '';
    for (const type of types) {
      const { table } = TABLES[type];
      const inRange = buckets === undefined ? '' : ` AND ${orderInRange(type === 'order' ? 'id' : 'order_id')}`;
      const sql = `SELECT * FROM ${table} WHERE market = ?${since === undefined ? '' : ' AND seq > ?'}${inRange} ORDER BY seq`;
      const args: unknown[] = since === undefined ? [market] : [market, since];
      if (buckets !== undefined) args.push(buckets.from, buckets.to);
      for (const row of db.prepare(sql).iterate(...args) as IterableIterator<Record<string, unknown>>) {
        const rest: Record<string, unknown> = { ...row };
        delete rest.seq;
        buf += `${JSON.stringify({ type, ...rest })}\n`;
        rows++;
        if (buf.length > 64 * 1024) {
          yield buf;
          buf = '';
          await nextTurn();
        }
      }
    }
    db.exec('COMMIT');
    yield `${buf}${JSON.stringify({ type: 'end', cursor, rows })}\n`;
  } finally {
    db.close();
  }
}

/** The export as a web stream (for an HTTP response); cancelling it closes the snapshot. */
export function exportStream(
  dataDir: string,
  market: string,
  since?: number,
  types?: readonly DataLine['type'][],
  buckets?: BucketRange,
): ReadableStream<Uint8Array> {
  const it = exportMarket(dataDir, market, since, types, buckets);
  const enc = new TextEncoder();
  return new ReadableStream({
    async pull(ctrl) {
      const next: IteratorResult<string, void> = await it.next();
      if (next.done) ctrl.close();
      else ctrl.enqueue(enc.encode(next.value));
    },
    async cancel() {
      await it.return(undefined);
    },
  });
}
