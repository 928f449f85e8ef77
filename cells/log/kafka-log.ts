/**
 * The Kafka-backed {@link EventLog} (docs/kafka.md): one topic per entity, partition count fixed
 * when the topic is created, the key's partition chosen by the same fnv1a mapping as SQLite's
 * (so `partitionFor` is the log's, not the client's), an idempotent producer (acks=all),
 * reads by offset with Fetch, and a group's offsets kept by the broker's group coordinator
 * (OffsetCommit for a group without members: the cell's consumer tracks its own positions).
 * Records written by an earlier producer of this log whose append did not finish (a crash or a
 * failed send mid-batch) are not written again: before its first append, and after a failed
 * one, the log reads the tail of every partition and drops records whose event id is there.
 */
import type { Admin, ClusterTopicMetadata, Consumer, Producer } from '@platformatic/kafka';
import { kafkaLibrary } from '../../shared/kafka-library.js';
import { fnv1a, type AppendRecord, type EventLog, type LogRecord } from './types.js';

/**
 * A cell's topic for an entity: `cellsim.<cell>.<entity>`: the order events (`orders`), and
 * under split roles the delivery events (`deliveries`); both keyed by order id (docs/kafka.md §Topics).
 */
export function topicName(cell: string, entity: 'orders' | 'deliveries'): string {
  return `cellsim.${cell}.${entity}`;
}

/** Options of {@link KafkaLog.open}. */
export interface KafkaLogOptions {
  /** `host:port` of the brokers to bootstrap from. */
  brokers: string[];
  /** The topic: one per entity (docs/kafka.md §Topics). */
  topic: string;
  /** Partitions when the topic is created; an existing topic keeps its own count. */
  partitions: number;
  clientId?: string;
  /** Records per produce request (default 100); an append of more is several requests. */
  chunk?: number;
  /** How many records at the end of each partition the duplicate check reads (default 2000, ≥ a relay batch). */
  tailWindow?: number;
  /** Called with its record count after each produce request is acknowledged (tests watch a batch in progress). */
  onChunkAcked?: (records: number) => void;
}

/** The JSON value of a record on a cell's topic (its key is the market). */
export interface StoredValue {
  market: string;
  eventId: string;
  type: string;
  payload: string;
  createdAt: number;
}

const MAX_FETCH_BYTES = 4 << 20;

/** A topic of a Kafka cluster as the cell's event log. */
export class KafkaLog implements EventLog {
  /** Event ids found at the partitions' tails while a duplicate check is due; undefined once appends are clean. */
  private recentIds: Set<string> | undefined = new Set();
  private checkDue = true;

  private constructor(
    private readonly opts: KafkaLogOptions,
    readonly partitions: number,
    private readonly admin: Admin,
    private readonly producer: Producer<string, string, string, string>,
    private readonly consumer: Consumer,
  ) {}

  /** Connects, and creates the topic with `partitions` partitions unless it exists (then keeps its count). */
  static async open(opts: KafkaLogOptions): Promise<KafkaLog> {
    const { Admin, Consumer, Producer, stringSerializers } = await kafkaLibrary();
    const base = { clientId: opts.clientId ?? 'cellsim-cell', bootstrapBrokers: opts.brokers };
    const admin = new Admin(base);
    try {
      const partitions = await ensureTopic(admin, opts.topic, opts.partitions);
      const producer = new Producer({ ...base, idempotent: true, acks: -1, serializers: stringSerializers });
      const consumer = new Consumer({ ...base, groupId: `${base.clientId}-reader` });
      return new KafkaLog(opts, partitions, admin, producer, consumer);
    } catch (err) {
      await admin.close().catch(() => undefined);
      throw err;
    }
  }

  partitionFor(key: string): number {
    return fnv1a(key) % this.partitions;
  }

  async append(records: readonly AppendRecord[]): Promise<void> {
    if (records.length === 0) return;
    let todo = records;
    if (this.checkDue) {
      await this.loadTail();
      todo = records.filter((r) => !this.recentIds!.has(r.eventId));
      this.checkDue = false;
      this.recentIds = undefined;
    }
    const chunk = this.opts.chunk ?? 100;
    try {
      for (let i = 0; i < todo.length; i += chunk) {
        const part = todo.slice(i, i + chunk);
        await this.producer.send({
          messages: part.map((r) => ({
            topic: this.opts.topic,
            key: r.key,
            partition: this.partitionFor(r.key),
            value: JSON.stringify({ market: r.market, eventId: r.eventId, type: r.type, payload: r.payload, createdAt: r.createdAt }),
          })),
        });
        this.opts.onChunkAcked?.(part.length);
      }
    } catch (err) {
      // Some records may have landed: the caller appends the batch again, the check drops them.
      this.checkDue = true;
      throw err;
    }
  }

  async read(partition: number, from: number, max: number): Promise<LogRecord[]> {
    const meta = await this.topicMeta();
    const res = await this.consumer.fetch({
      node: meta.partitions[partition]!.leader,
      maxWaitTime: 0,
      minBytes: 1,
      maxBytes: MAX_FETCH_BYTES,
      topics: [
        {
          topicId: meta.id,
          partitions: [
            { partition, fetchOffset: BigInt(from), currentLeaderEpoch: -1, lastFetchedEpoch: -1, partitionMaxBytes: MAX_FETCH_BYTES },
          ],
        },
      ],
    });
    const out: LogRecord[] = [];
    for (const p of res.responses[0]?.partitions ?? []) {
      if (p.errorCode !== 0) throw new Error(`kafka fetch ${this.opts.topic}/${partition}: error code ${p.errorCode}`);
      for (const batch of p.records ?? []) {
        for (const r of batch.records) {
          const offset = Number(batch.firstOffset) + r.offsetDelta;
          // A fetch answers with whole batches: the one holding `from` may start before it.
          if (offset < from) continue;
          if (out.length >= max) return out;
          const v = JSON.parse(r.value?.toString('utf8') ?? '{}') as StoredValue;
          out.push({ partition, offset, key: r.key?.toString('utf8') ?? '', ...v });
        }
      }
    }
    return out;
  }

  async committed(group: string, partition: number): Promise<number> {
    const [g] = await this.admin.listConsumerGroupOffsets({
      groups: [{ groupId: group, topics: [{ name: this.opts.topic, partitionIndexes: [partition] }] }],
    });
    const off = g?.topics.find((t) => t.name === this.opts.topic)?.partitions.find((p) => p.partitionIndex === partition)?.committedOffset;
    return off === undefined || off < 0n ? 0 : Number(off);
  }

  async commit(group: string, partition: number, next: number): Promise<void> {
    // Never backwards (the EventLog contract); one committer per group and cell (the background lease).
    if (next <= (await this.committed(group, partition))) return;
    await this.admin.alterConsumerGroupOffsets({
      groupId: group,
      topics: [{ name: this.opts.topic, partitionOffsets: [{ partition, offset: BigInt(next) }] }],
    });
  }

  async endOffset(partition: number): Promise<number> {
    const [t] = await this.admin.listOffsets({
      topics: [{ name: this.opts.topic, partitions: [{ partitionIndex: partition, timestamp: -1n }] }],
    });
    const off = t?.partitions.find((p) => p.partitionIndex === partition)?.offset;
    return off === undefined ? 0 : Number(off);
  }

  /** Closes the clients. */
  async close(): Promise<void> {
    await Promise.allSettled([this.producer.close(), this.consumer.close(), this.admin.close()]);
  }

  private meta: ClusterTopicMetadata | undefined;

  private async topicMeta(): Promise<ClusterTopicMetadata> {
    if (this.meta) return this.meta;
    const md = await this.consumer.metadata({ topics: [this.opts.topic] });
    const t = md.topics.get(this.opts.topic);
    if (!t) throw new Error(`kafka topic ${this.opts.topic} not found`);
    this.meta = t;
    return t;
  }

  /** Reads the last `tailWindow` records of every partition into the set of recent event ids. */
  private async loadTail(): Promise<void> {
    const ids = new Set<string>();
    const window = this.opts.tailWindow ?? 2000;
    for (let p = 0; p < this.partitions; p++) {
      const end = await this.endOffset(p);
      for (let from = Math.max(0, end - window); from < end;) {
        const recs = await this.read(p, from, 1000);
        if (recs.length === 0) break;
        for (const r of recs) ids.add(r.eventId);
        from = recs[recs.length - 1]!.offset + 1;
      }
    }
    this.recentIds = ids;
  }
}

/** Creates the topic unless it exists; returns its partition count (fixed at creation). */
async function ensureTopic(admin: Admin, topic: string, partitions: number): Promise<number> {
  if (!(await admin.listTopics()).includes(topic)) {
    try {
      await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
    } catch (err) {
      if (!/already exists/i.test(String((err as Error).message) + JSON.stringify((err as { errors?: unknown }).errors ?? ''))) throw err;
    }
  }
  for (let i = 0; ; i++) {
    const md = await admin.metadata({ topics: [topic], forceUpdate: true });
    const t = md.topics.get(topic);
    if (t && t.partitionsCount > 0 && t.partitions.every((p) => p && p.leader >= 0)) return t.partitionsCount;
    if (i >= 100) throw new Error(`kafka topic ${topic}: no leader for every partition after creation`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
