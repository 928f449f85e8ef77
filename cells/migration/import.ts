/**
 * Market import: an export stream upserted row by row in one transaction. Idempotent (the same
 * stream twice leaves the same state); every line is validated first and a bad stream writes nothing.
 */
import type Database from 'better-sqlite3';
import { HttpError } from '../../shared/errors.js';
import { nextSeq, stmt } from '../db/stmt.js';
import { issuesDetails } from '../http/body.js';
import { LineSchema, TABLES, type DataLine } from './rows.js';

/** Result of an import: rows written and the cursor the stream carried. */
export interface ImportResult {
  rows: number;
  cursor: number;
}

/** Parses and checks an NDJSON export of `market`: header first, end last with the right row count, every row of the market. */
export function parseExport(text: string, market: string): { rows: DataLine[]; cursor: number } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const rows: DataLine[] = [];
  let header = false;
  let end: { cursor: number; rows: number } | undefined;
  lines.forEach((raw, i) => {
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
      rows.push(line);
    }
  });
  if (!header) throw new HttpError('invalid_request', 'missing header line');
  if (end === undefined) throw new HttpError('invalid_request', 'missing end line (truncated stream?)');
  if (end.rows !== rows.length) throw new HttpError('invalid_request', `end line announces ${end.rows} rows, stream has ${rows.length}`);
  return { rows, cursor: end.cursor };
}

/**
 * Upserts the rows of a parsed export. Imported active sagas wait at least `holdMs` before their
 * next step, and reconciliation leaves the market alone as long: the copy stays equal to its
 * source until the migration's delta copy (the source keeps running them meanwhile).
 */
export function importRows(
  db: Database.Database,
  market: string,
  parsed: { rows: DataLine[]; cursor: number },
  holdMs: number,
): ImportResult {
  const holdUntil = Date.now() + holdMs;
  db.transaction(() => {
    for (const line of parsed.rows) {
      const row = line.type === 'saga' && line.active === 1 ? { ...line, next_at: Math.max(line.next_at, holdUntil) } : line;
      const { type, ...cols } = row;
      const { table, keys } = TABLES[type];
      const names = [...Object.keys(cols), 'seq'];
      const updates = names.filter((n) => !keys.includes(n)).map((n) => `${n} = excluded.${n}`);
      const sql = `INSERT INTO ${table} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})
        ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ${updates.join(', ')}`;
      stmt(db, sql).run(...Object.values(cols), nextSeq(db));
    }
    stmt(db, 'INSERT INTO market_holds (market, until) VALUES (?, ?) ON CONFLICT (market) DO UPDATE SET until = excluded.until').run(
      market,
      holdUntil,
    );
  }).immediate();
  return { rows: parsed.rows.length, cursor: parsed.cursor };
}
