/** The SQLite-backed {@link EventLog}: the log lives in the cell's own database. */
import type Database from 'better-sqlite3';
import { getMeta, setMeta, stmt } from '../db/stmt.js';
import { fnv1a, type AppendRecord, type EventLog, type LogRecord } from './types.js';

interface Row {
  partition: number;
  offset: number;
  key: string;
  market: string;
  event_id: string;
  type: string;
  payload: string;
  created_at: number;
}

/**
 * The partition count stored in the database on first use. A later start with another count
 * keeps the stored one: re-partitioning would break per-key order of records already written.
 */
export function resolvePartitions(db: Database.Database, wanted: number): number {
  const stored = getMeta(db, 'log.partitions');
  if (stored !== undefined) return Number(stored);
  setMeta(db, 'log.partitions', String(wanted));
  return wanted;
}

/** A log stored in tables `log`, `log_heads` and `consumer_offsets`. */
export class SqliteLog implements EventLog {
  readonly partitions: number;

  constructor(
    private readonly db: Database.Database,
    partitions: number,
  ) {
    this.partitions = resolvePartitions(db, partitions);
  }

  partitionFor(key: string): number {
    return fnv1a(key) % this.partitions;
  }

  /** Synchronous append, for callers already inside a transaction. */
  appendSync(records: readonly AppendRecord[]): void {
    const head = stmt(
      this.db,
      `INSERT INTO log_heads (partition, next_offset) VALUES (?, 1) ON CONFLICT (partition)
       DO UPDATE SET next_offset = next_offset + 1 RETURNING next_offset - 1 AS offset`,
    );
    const ins = stmt(
      this.db,
      'INSERT INTO log (partition, offset, key, market, event_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (const r of records) {
      const p = this.partitionFor(r.key);
      const { offset } = head.get(p) as { offset: number };
      ins.run(p, offset, r.key, r.market, r.eventId, r.type, r.payload, r.createdAt);
    }
  }

  async append(records: readonly AppendRecord[]): Promise<void> {
    this.db.transaction(() => this.appendSync(records)).immediate();
  }

  async read(partition: number, from: number, max: number): Promise<LogRecord[]> {
    const rows = stmt(this.db, 'SELECT * FROM log WHERE partition = ? AND offset >= ? ORDER BY offset LIMIT ?').all(
      partition,
      from,
      max,
    ) as Row[];
    return rows.map((r) => ({
      partition: r.partition,
      offset: r.offset,
      key: r.key,
      market: r.market,
      eventId: r.event_id,
      type: r.type,
      payload: r.payload,
      createdAt: r.created_at,
    }));
  }

  async committed(group: string, partition: number): Promise<number> {
    const row = stmt(this.db, 'SELECT next_offset FROM consumer_offsets WHERE grp = ? AND partition = ?').get(group, partition) as
      { next_offset: number } | undefined;
    return row?.next_offset ?? 0;
  }

  async commit(group: string, partition: number, next: number): Promise<void> {
    stmt(
      this.db,
      `INSERT INTO consumer_offsets (grp, partition, next_offset) VALUES (?, ?, ?) ON CONFLICT (grp, partition)
       DO UPDATE SET next_offset = excluded.next_offset WHERE excluded.next_offset > consumer_offsets.next_offset`,
    ).run(group, partition, next);
  }

  async endOffset(partition: number): Promise<number> {
    const row = stmt(this.db, 'SELECT next_offset FROM log_heads WHERE partition = ?').get(partition) as
      { next_offset: number } | undefined;
    return row?.next_offset ?? 0;
  }

  /** Deletes records every group of `groups` has committed past, keeping the newest `keep` per partition. */
  trim(groups: readonly string[], keep = 10_000): number {
    let removed = 0;
    for (let p = 0; p < this.partitions; p++) {
      let low = Number.POSITIVE_INFINITY;
      for (const g of groups) {
        const row = stmt(this.db, 'SELECT next_offset FROM consumer_offsets WHERE grp = ? AND partition = ?').get(g, p) as
          { next_offset: number } | undefined;
        low = Math.min(low, row?.next_offset ?? 0);
      }
      const below = low - keep;
      if (below > 0) removed += stmt(this.db, 'DELETE FROM log WHERE partition = ? AND offset < ?').run(p, below).changes;
    }
    return removed;
  }
}
