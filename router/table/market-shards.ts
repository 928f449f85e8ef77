/**
 * The markets half of the table worker's Consul view, split into shards (shared/key-partition.ts).
 * A recursive blocking query on a KV prefix wakes only for changes under that prefix but then
 * answers the whole prefix: with one query over `markets/`, every move re-reads every market
 * (2 MB at 10,000 markets, 23 MB at 100,000). With a shard per key prefix of about `target`
 * markets, a move re-reads its shard only.
 *
 * Each shard owns a {@link KvPrefixDiff} of its own keys, so deletions, index resets and the
 * ModifyIndex fast path stay exact per shard. A market created outside every shard is found by
 * the worker's paced keys-only read of the whole prefix, which calls {@link MarketShards.reshard}
 * with every listed ID.
 * A reshard keeps the shards that stay, seeds new shards with the records they take over (their
 * first answer is read in full and diffed against them), and stops the shards that go.
 */
import { KvPrefixDiff } from '../../shared/kv-diff.js';
import { isMarketId } from '../../shared/market.js';
import { partitionKeys, shardName, ShardIndex, type KeyShard } from '../../shared/key-partition.js';
import { MarketRecordSchema, decodeJson, type KvLayout, type MarketRecord } from '../../shared/kv.js';
import type { Watch } from '../../shared/consul-watch.js';

/** One followed part of `markets/`. */
export interface MarketShard extends KeyShard {
  /** The KV key or prefix this shard lists. */
  key: string;
  diff: KvPrefixDiff<MarketRecord>;
  /** True once the shard answered from Consul at least once. */
  answered: boolean;
  /** False while the shard's watch is failing. */
  ok: boolean;
  watch: Watch | undefined;
}

/** Options of {@link MarketShards}. */
export interface MarketShardsOptions {
  layout: KvLayout;
  /** Most shards (1: one query for the whole prefix). */
  max: number;
  /** Shards are used from this many markets on [2000]. */
  from?: number;
  /** Shards are split while larger than this many markets [500]. */
  target?: number;
  /** Starts the blocking query of a shard. */
  follow(shard: MarketShard): Watch;
}

type Rec = readonly [string, MarketRecord, number];

/** Every shard of `markets/` and their combined records. */
export class MarketShards {
  private shards = new Map<string, MarketShard>();
  private index = new ShardIndex<MarketShard>([]);
  private started = false;
  private completeOnce = false;
  /** Market count when the partition was last computed. */
  private partitionedAt = 0;

  constructor(private readonly o: MarketShardsOptions) {}

  /** The current shards, in a stable order. */
  list(): MarketShard[] {
    return [...this.shards.values()];
  }

  /** True when more than one shard (or a shard narrower than the whole prefix) is in use. */
  get sharded(): boolean {
    return this.shards.size > 1 || [...this.shards.values()].some((s) => s.lead !== '' || s.exact);
  }

  /** The shard that follows market `id`, if any. */
  shardOf(id: string): MarketShard | undefined {
    return this.index.find(id);
  }

  /** Loads records known from a snapshot, partitioned as a table of that size would be. */
  seed(records: readonly Rec[]): void {
    this.install(this.partition(records.map((r) => r[0])), records);
  }

  /** Partitions for the market IDs `ids` (known from a keys-only listing) before {@link start}. */
  plan(ids: readonly string[]): void {
    this.install(this.partition(ids), []);
  }

  /** Starts the blocking queries (one query over the whole prefix when nothing was seeded). */
  start(): void {
    this.started = true;
    if (this.shards.size === 0) this.install([{ lead: '', exact: false }], []);
    for (const s of this.shards.values()) s.watch ??= this.o.follow(s);
  }

  /** Stops every query. */
  stop(): void {
    this.started = false;
    for (const s of this.shards.values()) s.watch?.stop();
  }

  /**
   * Recomputes the partition and moves to it when it differs. Answers true when the shards
   * changed. The partition covers the held records plus `listed`, every market ID of a keys-only
   * listing of the whole prefix. Without a listing, a reshard is refused (false) until every
   * current shard has answered: a partition over a half-loaded table would drop the shards not
   * yet read, and their markets would vanish until the discovery read found them again.
   */
  reshard(listed?: readonly string[]): boolean {
    if (listed === undefined && !this.settled) return false;
    const records = this.records();
    const ids = records.map((r) => r[0]);
    const want = this.partition(listed === undefined ? ids : [...new Set([...listed, ...ids])]);
    const names = new Set(want.map(shardName));
    if (names.size === this.shards.size && [...names].every((n) => this.shards.has(n))) return false;
    this.install(want, records);
    return true;
  }

  /** True when the market count moved by more than 10 % since the partition was computed. */
  drifted(count: number): boolean {
    return Math.abs(count - this.partitionedAt) > Math.max(this.o.from ?? 2000, this.partitionedAt) * 0.1;
  }

  /** True once every shard answered from Consul at least once (then stays true). */
  get complete(): boolean {
    if (!this.completeOnce && this.shards.size > 0 && [...this.shards.values()].every((s) => s.answered)) this.completeOnce = true;
    return this.completeOnce;
  }

  /** True while every current shard has answered from Consul (false again after a reshard adds shards). */
  get settled(): boolean {
    for (const s of this.shards.values()) if (!s.answered) return false;
    return this.shards.size > 0;
  }

  /** True while no shard's watch is failing. */
  get ok(): boolean {
    return [...this.shards.values()].every((s) => s.ok);
  }

  /** Every market's last good record, with its ModifyIndex. */
  records(): [string, MarketRecord, number][] {
    return [...this.shards.values()].flatMap((s) => s.diff.records());
  }

  /** Markets with a good record. */
  get size(): number {
    let n = 0;
    for (const s of this.shards.values()) n += s.diff.size;
    return n;
  }

  private partition(ids: readonly string[]): KeyShard[] {
    this.partitionedAt = ids.length;
    return partitionKeys(ids, { from: this.o.from ?? 2000, target: this.o.target ?? 500, max: this.o.max });
  }

  /** Replaces the shard set with `want`; new shards are seeded with the records they cover. */
  private install(want: readonly KeyShard[], records: readonly Rec[]): void {
    const next = new Map<string, MarketShard>();
    for (const k of want) {
      const name = shardName(k);
      next.set(
        name,
        this.shards.get(name) ?? {
          ...k,
          key: this.o.layout.marketsPrefix + k.lead,
          diff: new KvPrefixDiff<MarketRecord>(this.o.layout.marketsPrefix, isMarketId, (t) => decodeJson(MarketRecordSchema, t)),
          answered: false,
          ok: false,
          watch: undefined,
        },
      );
    }
    const index = new ShardIndex<MarketShard>(next.values());
    const fresh = [...next.values()].filter((s) => this.shards.get(shardName(s)) !== s);
    const seeds = new Map<MarketShard, Rec[]>(fresh.map((s) => [s, []]));
    for (const r of records) seeds.get(index.find(r[0])!)?.push(r);
    for (const s of fresh) s.diff.seed(seeds.get(s) ?? []);
    for (const [name, s] of this.shards) if (!next.has(name)) s.watch?.stop();
    this.shards = next;
    this.index = index;
    if (this.started) for (const s of fresh) s.watch = this.o.follow(s);
  }
}
