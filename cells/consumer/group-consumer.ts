/**
 * The key-ordered parallel consumer as a member of a Kafka consumer group (docs/kafka.md
 * §Consumer groups): several processes consume one topic together, the broker's group
 * coordinator gives each its partitions and moves them when a member dies or joins
 * (rebalancing). Records run on a {@link KeyOrderedExecutor} (per-key order, `workers` at once,
 * beyond the partition count); each assigned partition's offset is committed only below its
 * lowest unfinished record, so a member that dies loses nothing: whoever gets its partitions
 * starts again at that offset, and the records read twice are absorbed by the handler's
 * primary-key idempotency.
 */
import type { Consumer, MessagesStream } from '@platformatic/kafka';
import { kafkaLibrary } from '../../shared/kafka-library.js';
import type { Logger } from '../../shared/logger.js';
import type { StoredValue } from '../log/kafka-log.js';
import type { LogRecord } from '../log/types.js';
import { KeyOrderedExecutor } from './executor.js';
import { OffsetTracker } from './offset-tracker.js';

/** Options of {@link GroupConsumer}. */
export interface GroupConsumerOptions {
  brokers: string[];
  topic: string;
  group: string;
  /** This member's client id (shown by the broker). */
  clientId: string;
  workers: number;
  handler: (record: LogRecord) => Promise<void>;
  /** How often finished offsets are committed (default 200 ms). */
  commitMs?: number;
  /** The broker drops a member it has not heard from for this long (default 6 s): the death-to-rebalance bound. */
  sessionTimeoutMs?: number;
  logger?: Logger;
  /** First retry delay after a handler error, doubling up to 2 s (default 50). */
  retryMs?: number;
  /** Records taken from the broker and not finished, at most (default 1000); the stream pauses above. */
  maxInFlight?: number;
  /** Called with the partitions this member holds after each join (a rebalance). */
  onJoin?: (partitions: number[]) => void;
}

/** One member of a consumer group over one topic. */
export class GroupConsumer {
  private readonly executor: KeyOrderedExecutor;
  private readonly tracker = new OffsetTracker();
  private consumer: Consumer<string, string, string, string> | undefined;
  private stream: MessagesStream<string, string, string, string> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private committing: Promise<void> = Promise.resolve();
  /** Partitions this member holds now (after its last join). */
  assigned: number[] = [];
  /** Times this member (re)joined the group. */
  joins = 0;
  private readonly maxInFlight: number;

  constructor(private readonly opts: GroupConsumerOptions) {
    this.executor = new KeyOrderedExecutor(opts.workers);
    this.maxInFlight = opts.maxInFlight ?? 1000;
  }

  /**
   * Joins the group and starts consuming from the group's committed offsets (the earliest when
   * none). When the stream ends other than by {@link stop} (the broker died or restarted: a fetch
   * or metadata request failed), the member reconnects and joins again, after 1 s and then up to
   * every 5 s, until it is back; a first start that cannot reach the broker throws.
   */
  async start(): Promise<void> {
    await this.connect();
    this.timer = setInterval(() => void this.commit(), this.opts.commitMs ?? 200);
  }

  /** Reconnects after a lost stream, retrying until it joins again or the member is stopped. */
  private async reconnect(): Promise<void> {
    for (let delay = 1000; !this.stopping; delay = Math.min(5000, delay * 2)) {
      await new Promise((r) => setTimeout(r, delay));
      if (this.stopping) return;
      try {
        if (this.consumer) await forceClose(this.consumer);
        await this.connect();
        this.opts.logger?.info({ group: this.opts.group }, 'consumer stream back after a broker failure');
        return;
      } catch (err) {
        this.opts.logger?.warn({ err, group: this.opts.group }, 'consumer could not reconnect; retrying');
      }
    }
  }

  private async connect(): Promise<void> {
    const o = this.opts;
    const { Consumer, MessagesStreamModes, stringDeserializers } = await kafkaLibrary();
    const consumer = new Consumer({
      clientId: o.clientId,
      bootstrapBrokers: o.brokers,
      groupId: o.group,
      deserializers: stringDeserializers,
      autocommit: false,
      sessionTimeout: o.sessionTimeoutMs ?? 6000,
      heartbeatInterval: Math.max(200, Math.floor((o.sessionTimeoutMs ?? 6000) / 6)),
      rebalanceTimeout: o.sessionTimeoutMs ?? 6000,
      maxWaitTime: 200,
    });
    this.consumer = consumer;
    // A failed rejoin is reported as an error event; the stream's end below is what reconnects.
    consumer.on('error', (err) => o.logger?.warn({ err }, 'consumer error'));
    consumer.on('consumer:group:join', (p) => {
      // A new generation: what this member held before may be another's now. Offsets of records
      // still running from then are no longer ours to commit; the stream reads from the committed ones.
      this.joins++;
      this.assigned = (p.assignments ?? []).filter((a) => a.topic === o.topic).flatMap((a) => a.partitions);
      this.tracker.reset(this.assigned);
      o.logger?.info({ group: o.group, generation: p.generationId, partitions: this.assigned }, 'joined the consumer group');
      o.onJoin?.(this.assigned);
    });
    let stream: MessagesStream<string, string, string, string>;
    try {
      stream = await consumer.consume({
        topics: [o.topic],
        mode: MessagesStreamModes.COMMITTED,
        fallbackMode: 'earliest',
        autocommit: false,
      });
    } catch (err) {
      await forceClose(consumer);
      throw err;
    }
    this.stream = stream;
    stream.on('close', () => {
      if (this.stopping || this.stream !== stream) return;
      o.logger?.warn({ group: o.group }, 'consumer stream lost; reconnecting');
      this.assigned = [];
      void this.reconnect();
    });
    this.stream.on('data', (m) => {
      const v = JSON.parse(m.value) as StoredValue;
      const rec: LogRecord = { partition: m.partition, offset: Number(m.offset), key: m.key, ...v };
      const token = this.tracker.begin(rec.partition, rec.offset);
      void this.executor
        .submit(rec.key, () => this.handle(rec))
        .then(
          () => this.tracker.finish(token),
          () => undefined, // stopping: left unfinished, so uncommitted
        )
        .finally(() => {
          if (this.stream?.isPaused() && this.executor.size < this.maxInFlight / 2) this.stream.resume();
        });
      // Backpressure: records wait in the broker, not in memory.
      if (this.executor.size >= this.maxInFlight) this.stream?.pause();
    });
    this.stream.on('error', (err) => o.logger?.warn({ err }, 'consumer stream error'));
  }

  /** Runs a record until its handler succeeds (a handler error is retried with backoff; nothing is skipped). */
  private async handle(rec: LogRecord): Promise<void> {
    for (let delay = this.opts.retryMs ?? 50; ; delay = Math.min(2000, delay * 2)) {
      try {
        return await this.opts.handler(rec);
      } catch (err) {
        if (this.stopping) throw err;
        this.opts.logger?.warn({ err, partition: rec.partition, offset: rec.offset }, 'handler failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Commits, per partition held, the offset below its lowest unfinished record (a failed commit is retried next time). */
  commit(): Promise<void> {
    this.committing = this.committing.then(async () => {
      const due = this.tracker.due();
      if (!this.consumer || due.length === 0) return;
      try {
        await this.consumer.commit({
          offsets: due.map((d) => ({ topic: this.opts.topic, partition: d.partition, offset: BigInt(d.next), leaderEpoch: -1 })),
        });
        this.tracker.committed(due);
      } catch (err) {
        // A rebalance in progress or an old generation: the new owner starts from the last commit.
        this.opts.logger?.debug({ err }, 'offset commit refused; retried after the next join');
      }
    });
    return this.committing;
  }

  /** Stops fetching, lets running records finish, commits them, and leaves the group (its partitions move at once). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.stream?.close().catch(() => undefined);
    await this.executor.idle();
    await this.commit();
    await this.consumer?.close().catch(() => undefined);
  }
}

/** Closes a consumer without waiting for the broker (it may be gone); errors are ignored. */
function forceClose(consumer: Consumer<string, string, string, string>): Promise<void> {
  return new Promise((resolve) => consumer.close(true, () => resolve()));
}
