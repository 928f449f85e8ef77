/**
 * The key-ordered parallel consumer: reads every partition of an {@link EventLog}, runs records
 * on a {@link KeyOrderedExecutor} (concurrency = worker count, per-key order kept, never two
 * records of one key at once), and commits per partition the offset below which every record
 * has finished (a crash re-delivers at most the unfinished tail: at-least-once).
 */
import type { Logger } from '../../shared/logger.js';
import type { EventLog, LogRecord } from '../log/types.js';
import { KeyOrderedExecutor } from './executor.js';

/** Options of {@link KeyOrderedConsumer}. */
export interface ConsumerOptions {
  log: EventLog;
  group: string;
  workers: number;
  handler: (record: LogRecord) => Promise<void>;
  /** Records in flight per partition (fetched and not yet committed); default 1000. */
  maxInFlight?: number;
  /** Idle poll interval in ms (default 10). */
  pollMs?: number;
  /** First retry delay after a handler error, doubling up to 2 s (default 50). */
  retryMs?: number;
  logger?: Logger;
  /** Called after each record finished (metrics). */
  onProcessed?: (record: LogRecord) => void;
}

interface Slot {
  offset: number;
  done: boolean;
}

interface PartitionState {
  next: number;
  committed: number;
  inflight: Slot[];
}

/** A consumer loop for one group over every partition of a log. */
export class KeyOrderedConsumer {
  private readonly executor: KeyOrderedExecutor;
  private readonly states = new Map<number, PartitionState>();
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly opts: ConsumerOptions) {
    this.executor = new KeyOrderedExecutor(opts.workers);
  }

  /** Starts polling (from each partition's committed offset). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.states.clear();
    this.loop = this.run();
  }

  /** Polls at once instead of waiting for the next tick. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Stops fetching, lets the records in flight finish, commits, and resolves. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake();
    await this.loop;
    await this.executor.idle();
    await this.flushCommits();
  }

  /** Per partition: committed offset and records in flight (for lag metrics). */
  positions(): { partition: number; committed: number; inflight: number }[] {
    return [...this.states.entries()].map(([partition, s]) => ({ partition, committed: s.committed, inflight: s.inflight.length }));
  }

  private async run(): Promise<void> {
    const { log } = this.opts;
    while (!this.stopped && this.states.size < log.partitions) {
      try {
        for (let p = this.states.size; p < log.partitions; p++) {
          const c = await log.committed(this.opts.group, p);
          this.states.set(p, { next: c, committed: c, inflight: [] });
        }
      } catch (err) {
        this.opts.logger?.warn({ err }, 'consumer could not read committed offsets; retrying');
        await this.sleep(500);
      }
    }
    while (!this.stopped) {
      let fetched = 0;
      try {
        for (const [p, s] of this.states) fetched += await this.fetch(p, s);
        await this.flushCommits();
      } catch (err) {
        this.opts.logger?.warn({ err }, 'consumer poll failed');
      }
      if (fetched === 0 && !this.stopped) await this.sleep(this.opts.pollMs ?? 10);
    }
  }

  private async fetch(partition: number, s: PartitionState): Promise<number> {
    const room = (this.opts.maxInFlight ?? 1000) - s.inflight.length;
    if (room <= 0) return 0;
    const records = await this.opts.log.read(partition, s.next, Math.min(room, 500));
    for (const rec of records) {
      const slot: Slot = { offset: rec.offset, done: false };
      s.inflight.push(slot);
      s.next = rec.offset + 1;
      void this.executor
        .submit(rec.key, () => this.handle(rec, slot, s))
        .catch((err: unknown) => this.opts.logger?.error({ err, offset: rec.offset }, 'consumer bookkeeping failed'));
    }
    return records.length;
  }

  private async handle(rec: LogRecord, slot: Slot, s: PartitionState): Promise<void> {
    let delay = this.opts.retryMs ?? 50;
    for (;;) {
      try {
        await this.opts.handler(rec);
        break;
      } catch (err) {
        // Keep the key blocked (order!) and retry; on stop, leave it uncommitted for redelivery.
        this.opts.logger?.warn({ err, partition: rec.partition, offset: rec.offset, key: rec.key }, 'consumer handler failed; retrying');
        if (this.stopped) return;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
        if (this.stopped) return;
      }
    }
    slot.done = true;
    this.opts.onProcessed?.(rec);
    let advanced = false;
    while (s.inflight.length > 0 && s.inflight[0]!.done) {
      s.committed = s.inflight.shift()!.offset + 1;
      advanced = true;
    }
    if (advanced && s.inflight.length === 0) this.wake();
  }

  private readonly lastCommitted = new Map<number, number>();

  private async flushCommits(): Promise<void> {
    for (const [p, s] of this.states) {
      // Read once: records may finish while the commit is awaited (a broker round trip), and
      // what is remembered must be what was committed, or the final flush would skip the rest.
      const next = s.committed;
      if (this.lastCommitted.get(p) === next) continue;
      await this.opts.log.commit(this.opts.group, p, next);
      this.lastCommitted.set(p, next);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = done;
    });
  }
}
