/**
 * The one way cellsim writes market records: each write is a Consul transaction that sets the
 * market key and appends the market to the change log (./change-log.ts) together, so a follower
 * never misses a product write and reads only the markets that changed. The change log is
 * check-and-set on its own ModifyIndex; two writers racing for it retry (the market's own
 * check-and-set decides who wins the market).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsulClient, TxnKvOp } from '../consul/client.js';
import { ConsulError } from '../consul/errors.js';
import { MarketRecordSchema, decodeJson, encodeJson, type KvLayout, type MarketRecord } from '../kv.js';
import { CHANGE_LOG_SIZE, ChangeLogSchema, EMPTY_CHANGE_LOG, appendChanges, type ChangeLog } from './change-log.js';

/** Options of {@link MarketWriter.put}. */
export interface MarketPutOptions {
  /** Check-and-set on the market key: 0 = only create, N = only when its ModifyIndex is N. */
  cas?: number;
}

/** Most markets per transaction (Consul takes 64 operations; one is the change log). */
const BATCH = Math.min(63, CHANGE_LOG_SIZE);
/** Attempts when writers of other processes keep moving the change log. */
const LOG_ATTEMPTS = 50;
/** The tail of each change log's queue of writes in this process (see {@link MarketWriter.queued}). */
const queues = new Map<string, Promise<unknown>>();
/**
 * The change log as this process last wrote it, with its ModifyIndex, per log (same key as
 * {@link queues}): the next write of the queue starts from it instead of reading the log again.
 * Dropped on any failed write (another process moved the log, or a check-and-set failed).
 */
const written = new Map<string, { log: ChangeLog; modifyIndex: number }>();

/** Writes market records with their change-log entries. */
export class MarketWriter {
  constructor(
    private readonly consul: ConsulClient,
    private readonly layout: KvLayout,
  ) {}

  /** Writes one market record; false when its check-and-set failed (nothing written). */
  async put(market: string, record: MarketRecord, o: MarketPutOptions = {}): Promise<boolean> {
    return (await this.queued([[market, record]], o.cas)) === 'written';
  }

  /**
   * Creates markets that do not exist yet, up to 63 per transaction; a batch in which one already
   * exists is written market by market. Returns how many were created.
   */
  async createMany(records: readonly (readonly [string, MarketRecord])[]): Promise<number> {
    let created = 0;
    for (let i = 0; i < records.length; i += BATCH) {
      const batch = records.slice(i, i + BATCH);
      if ((await this.queued(batch, 0)) === 'written') created += batch.length;
      else for (const [market, rec] of batch) if (await this.put(market, rec, { cas: 0 })) created += 1;
    }
    return created;
  }

  /** The change log as stored, with its ModifyIndex (0 when absent; an unreadable log starts over). */
  async readLog(): Promise<{ log: ChangeLog; modifyIndex: number }> {
    const { value } = await this.consul.kv.get(this.layout.marketChangesKey, { timeoutMs: 5000 });
    if (value === undefined) return { log: EMPTY_CHANGE_LOG, modifyIndex: 0 };
    const d = decodeJson(ChangeLogSchema, value.value);
    // An unreadable log is replaced: followers read the whole prefix when they cannot read it.
    return { log: d.ok ? d.value : EMPTY_CHANGE_LOG, modifyIndex: value.modifyIndex };
  }

  /**
   * Writes of one process to one change log go one at a time: they would otherwise only race each
   * other for the log (an evacuation runs several migrations at once). Writers of other processes
   * still race, and retry.
   */
  private queued(records: readonly (readonly [string, MarketRecord])[], cas: number | undefined): Promise<'written' | 'cas-failed'> {
    const key = this.logId();
    const run = (queues.get(key) ?? Promise.resolve()).then(() => this.write(records, cas));
    const tail = run.catch(() => undefined);
    queues.set(key, tail);
    void tail.then(() => queues.get(key) === tail && queues.delete(key));
    return run;
  }

  /** Which change log (of which Consul) this writer appends to. */
  private logId(): string {
    return `${this.consul.url} ${this.layout.marketChangesKey}`;
  }

  private async write(records: readonly (readonly [string, MarketRecord])[], cas: number | undefined): Promise<'written' | 'cas-failed'> {
    const ops: TxnKvOp[] = records.map(([market, rec]) => {
      const Value = Buffer.from(encodeJson(MarketRecordSchema, rec)).toString('base64');
      const Key = this.layout.marketKey(market);
      return cas === undefined ? { KV: { Verb: 'set', Key, Value } } : { KV: { Verb: 'cas', Key, Value, Index: cas } };
    });
    const id = this.logId();
    for (let attempt = 1; ; attempt++) {
      const { log, modifyIndex } = written.get(id) ?? (await this.readLog());
      const next = appendChanges(
        log,
        records.map(([m]) => m),
      );
      const logOp: TxnKvOp = {
        KV: {
          Verb: 'cas',
          Key: this.layout.marketChangesKey,
          Value: Buffer.from(JSON.stringify(next)).toString('base64'),
          Index: modifyIndex,
        },
      };
      const res = await this.consul.kv.txn([...ops, logOp], { timeoutMs: 5000 });
      const logIndex = res.results.find((r) => r.key === this.layout.marketChangesKey)?.modifyIndex;
      if (res.ok && logIndex !== undefined) written.set(id, { log: next, modifyIndex: logIndex });
      else written.delete(id);
      if (res.ok) return 'written';
      if (res.errors.some((e) => e.opIndex < ops.length)) return 'cas-failed';
      if (attempt >= LOG_ATTEMPTS) {
        throw new ConsulError(
          'consul_http',
          `market change log ${this.layout.marketChangesKey} kept changing under ${attempt} attempts to write it`,
        );
      }
      await sleep(Math.random() * Math.min(50, attempt * 2)); // another writer moved the log: read it again
    }
  }
}
