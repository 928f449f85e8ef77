/**
 * The cell's partitioned log, behind an interface so a Kafka-backed implementation can replace
 * the SQLite one. Semantics are Kafka's: records of one key go to one partition and keep their
 * order there; offsets grow per partition; consumers commit the next offset they need;
 * delivery is at least once (a record may be read again after a crash, or appended twice).
 */

/** A record to append. */
export interface AppendRecord {
  key: string;
  market: string;
  eventId: string;
  type: string;
  payload: string;
  createdAt: number;
}

/** A record read back, with its place in the log. */
export interface LogRecord extends AppendRecord {
  partition: number;
  offset: number;
}

/** A partitioned, offset-addressed log with committed consumer offsets. */
export interface EventLog {
  /** Number of partitions (fixed for the life of the log). */
  readonly partitions: number;
  /** The partition a key goes to. */
  partitionFor(key: string): number;
  /** Appends records; each lands in its key's partition after that partition's earlier records. */
  append(records: readonly AppendRecord[]): Promise<void>;
  /** Up to `max` records of `partition` with offset ≥ `from`, in offset order. */
  read(partition: number, from: number, max: number): Promise<LogRecord[]>;
  /** The next offset `group` needs from `partition` (0 when it never committed). */
  committed(group: string, partition: number): Promise<number>;
  /** Commits `next` for `group` on `partition`; never moves a committed offset backwards. */
  commit(group: string, partition: number, next: number): Promise<void>;
  /** The offset the next appended record of `partition` will get. */
  endOffset(partition: number): Promise<number>;
  /** Releases connections (a broker's clients); the SQLite log has none. */
  close?(): Promise<void>;
}

/** What `group` has not committed of each partition of `log` (records not yet read), by partition. */
export async function groupLag(log: EventLog, group: string): Promise<number[]> {
  const lag: number[] = [];
  for (let p = 0; p < log.partitions; p++) lag.push(Math.max(0, (await log.endOffset(p)) - (await log.committed(group, p))));
  return lag;
}

/**
 * How many records of `market` `group` has not committed on `log` (the market's events in flight),
 * read through the log from each partition's committed offset to its end. Past `cap` records
 * read in a partition (or when a read answers nothing), the rest of that partition counts whole:
 * never less than the truth, so a wait for 0 cannot end early.
 */
export async function marketLag(log: EventLog, group: string, market: string, cap = 2000): Promise<number> {
  let pending = 0;
  for (let p = 0; p < log.partitions; p++) {
    const end = await log.endOffset(p);
    let at = await log.committed(group, p);
    for (let read = 0; at < end;) {
      if (read >= cap) {
        pending += end - at;
        break;
      }
      const recs = await log.read(p, at, Math.min(500, cap - read));
      if (recs.length === 0) {
        pending += end - at; // not readable now: count it all rather than miss one
        break;
      }
      for (const r of recs) if (r.market === market && r.offset < end) pending++;
      read += recs.length;
      at = recs[recs.length - 1]!.offset + 1;
    }
  }
  return pending;
}

/** FNV-1a 32-bit hash: the stable key → partition mapping (partition = hash(key) mod P). */
export function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
