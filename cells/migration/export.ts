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
import { ROW_TYPES, TABLES, type DataLine } from './rows.js';
import { nextTurn } from './turns.js';

/**
 * Yields NDJSON text chunks: header, every row of the market (changed after `since`) of the line
 * `types` (an all-in-one cell's by default; rows.ts `ROW_TYPES_OF` per kind of process), end.
 */
export async function* exportMarket(
  dataDir: string,
  market: string,
  since?: number,
  types: readonly DataLine['type'][] = ROW_TYPES,
): AsyncGenerator<string> {
  const db = new Database(dbFile(dataDir), { readonly: true, timeout: 10_000 });
  try {
    db.exec('BEGIN');
    const cursor = currentSeq(db); // first read fixes the snapshot
    yield `${JSON.stringify({ type: 'header', market, cursor, ...(since === undefined ? {} : { since }) })}\n`;
    let rows = 0;
    let buf = '';
    for (const type of types) {
      const { table } = TABLES[type];
      const sql = `SELECT * FROM ${table} WHERE market = ?${since === undefined ? '' : ' AND seq > ?'} ORDER BY seq`;
      const args: unknown[] = since === undefined ? [market] : [market, since];
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
): ReadableStream<Uint8Array> {
  const it = exportMarket(dataDir, market, since, types);
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
