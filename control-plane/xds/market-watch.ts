/**
 * Follows `markets/` in Consul at 100,000 keys without re-reading all of them per move.
 * A blocking query on a KV prefix wakes only for changes under that prefix but answers the
 * whole prefix; one query over every market costs Consul ~1 s and 23 MB at 100,000 keys.
 * So the keys are split into shards by key prefix (a trie split of the known market IDs,
 * largest shard first, at most `maxShards` watches) and each shard has its own blocking
 * query: a move wakes one shard of about a thousand keys. The shard prefixes cover the whole
 * market ID grammar (a split group gets every possible child, empty ones too), so a new market
 * is seen by its shard at once. Empty shards are not watched one by one: Consul wakes a blocking
 * query on a prefix with no keys on *every* KV write (hundreds of them per move at 100,000
 * markets), so one such query (on a prefix no market can have) serves as the wake-up for all of
 * them, and on each wake, at most every 250 ms, one transaction reads every empty shard
 * (`get-tree`, 64 per transaction); a shard that got a key gets its own watch. A full read of the prefix stays for completeness (IDs equal to
 * a split prefix, invalid keys, a delete and an add in one shard wake), paced at ten times its
 * own cost (1–15 s) so it cannot crowd out the moves. Every answer is merged by ModifyIndex, so
 * an older answer never undoes a newer one.
 */
import { MarketRecordSchema, decodeJson, type KvLayout, type MarketRecord } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import { watch, type ConsulClient, type TxnKvOp, type Watch, type WatchResult } from '../../shared/consul.js';
import type { KvEntry } from '../../shared/routing-table.js';

/** Options of {@link MarketWatch}. */
export interface MarketWatchOptions {
  consul: ConsulClient;
  layout: KvLayout;
  log: Logger;
  /** Called with the IDs whose record changed (added, changed or removed) after each answer. */
  onChange(changed: ReadonlySet<string>): void;
  /** Called after every answer of the full listing (changed or not). */
  onAnswer?(): void;
  onInvalid(key: string, problems: string[]): void;
  onError(what: string, err: Error, attempt: number, retryInMs: number): void;
  /**
   * Most shard watches (default 448). Each holds one HTTP connection to Consul, whose default
   * limit is 200 per client address: `cellctl up` and the test harness raise it to 2,000
   * (`http_max_conns_per_client`); against a Consul with the default, pass fewer.
   */
  maxShards?: number;
  /** Shards are split while larger than this many keys (default 1000). */
  shardTarget?: number;
  /** Below this many keys no shards are used (default 5000). */
  shardFrom?: number;
  wait?: string;
  /** Shortest pause between full reads once sharded, ms (default 1000). */
  fullReadMinMs?: number;
}

interface Known {
  modifyIndex: number;
  id: string | undefined;
}

/** Characters a market ID may start with (`^[a-z0-9]`). */
export const FIRST_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** Characters a market ID may continue with (`[a-z0-9-]`). */
export const NEXT_CHARS = `${FIRST_CHARS}-`;
/** Longest market ID (`{0,62}` after the first character). */
const MAX_ID_LENGTH = 63;

/**
 * Splits `ids` into key prefixes that together cover **every** valid market ID, present or
 * future: the largest group is replaced by all its possible children (36 first characters
 * for the root, 37 later characters below it), empty ones included, while it is above
 * `target` and the count stays within `max`. A market created later therefore falls into a
 * shard at once, whatever its ID. The only IDs no shard covers are those equal to a split
 * prefix (e.g. `m` once `m` was split into `ma`…`m-`): those, and invalid keys, are left to
 * the full read. Returns [] when the keys fit `target` or the root split does not fit `max`.
 */
export function partitionPrefixes(ids: readonly string[], target: number, max: number): string[] {
  let groups: { prefix: string; ids: string[] }[] = [{ prefix: '', ids: [...ids] }];
  for (;;) {
    groups.sort((a, b) => b.ids.length - a.ids.length || (a.prefix < b.prefix ? -1 : 1));
    const big = groups[0];
    if (big === undefined || big.ids.length <= target || big.prefix.length >= MAX_ID_LENGTH) break;
    const alphabet = big.prefix === '' ? FIRST_CHARS : NEXT_CHARS;
    if (groups.length - 1 + alphabet.length > max) break;
    const children = new Map<string, string[]>([...alphabet].map((c) => [big.prefix + c, []]));
    for (const id of big.ids) {
      if (id.length <= big.prefix.length) continue; // equal to the prefix: the full read's
      children.get(id.slice(0, big.prefix.length + 1))?.push(id); // an invalid ID: the full read's
    }
    groups = [...groups.slice(1), ...[...children].map(([prefix, list]) => ({ prefix, ids: list }))];
  }
  return groups.filter((g) => g.prefix !== '').map((g) => g.prefix);
}

/** The market watch: `records` is always the merged, validated view. */
export class MarketWatch {
  readonly records = new Map<string, MarketRecord>();
  private readonly known = new Map<string, Known>();
  private readonly shards = new Map<string, Watch>();
  /** Shards with no key at the last partition: read together on every KV write (see the module comment). */
  private readonly emptyShards = new Set<string>();
  private emptyWake: Watch | undefined;
  private emptyReading = false;
  private emptyDirty = false;
  private emptyLastAt = 0;
  private full: Watch | undefined;
  private fullCostMs = 0;
  private wakeFull: (() => void) | undefined;
  /** Keys in each shard's last answer (fewer now = something was deleted). */
  private readonly shardCounts = new Map<string, number>();
  private fullIntervalMs = 0;
  private partitionedAt = 0;
  private lastUncovered = 0;
  private stopped = false;
  private fullReads = 0;
  /** True once the full listing answered once. */
  ready = false;

  constructor(private readonly o: MarketWatchOptions) {}

  /** Starts the full watch (shards follow its first answer). */
  start(): void {
    const prefix = this.o.layout.marketsPrefix;
    let first = true;
    this.full = watch<KvEntry[]>(
      async (index, wait, signal) => {
        const paced = !first && this.fullIntervalMs > 0;
        if (paced) await this.fullPause();
        first = false;
        const t0 = performance.now();
        // Once sharded, the paced full read asks for the prefix as it is now (no index), not as a
        // blocking query: a blocking query would be answered by the next KV write, i.e. exactly
        // when a move also wakes its shard, and Consul would build the 23 MB listing (100,000
        // markets) at the moment the move's answer is due.
        const r = await this.list(prefix, paced ? 0 : index, wait, signal);
        this.fullCostMs = performance.now() - t0;
        return r;
      },
      {
        onChange: ({ value, index }) => {
          this.fullReads += 1;
          this.merge('', value, index);
          this.ready = true;
          this.o.onAnswer?.();
          this.reshard();
          // With shards, the full read (new keys outside every shard, missed deletions) is
          // repeated at ten times its own cost, between 1 and 15 s, so it cannot crowd out moves.
          const min = this.o.fullReadMinMs ?? 1000;
          this.fullIntervalMs = this.shards.size > 0 ? Math.max(min, Math.min(15_000, Math.max(1000, this.fullCostMs * 10))) : 0;
        },
        onError: (err, attempt, retry) => this.o.onError('markets', err, attempt, retry),
      },
      { wait: this.o.wait ?? '30s' },
    );
  }

  private fullPause(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, this.fullIntervalMs);
      t.unref();
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeFull = () => {
        this.wakeFull = undefined;
        done();
      };
    });
  }

  /** Stops every watch. */
  stop(): void {
    this.stopped = true;
    this.full?.stop();
    this.emptyWake?.stop();
    this.wakeFull?.();
    for (const w of this.shards.values()) w.stop();
    this.shards.clear();
  }

  /** What /xds/status shows about the watch. */
  info(): { markets: number; shards: number; emptyShards: number; uncovered: number; fullReadIntervalMs: number; fullReads: number } {
    return {
      markets: this.records.size,
      shards: this.shards.size,
      emptyShards: this.emptyShards.size,
      uncovered: this.lastUncovered,
      fullReadIntervalMs: Math.round(this.fullIntervalMs),
      fullReads: this.fullReads,
    };
  }

  /** Shard prefixes in use (relative to the markets prefix). */
  shardPrefixes(): string[] {
    return [...this.shards.keys()];
  }

  private async list(prefix: string, index: number, wait: string, signal: AbortSignal): Promise<WatchResult<KvEntry[]>> {
    const r = await this.o.consul.kv.list(prefix, { index, wait, signal });
    return { index: r.index, value: r.value.map((i) => ({ key: i.key, value: i.value, modifyIndex: i.modifyIndex })) };
  }

  /** Merges one answer for keys under `sub` (relative prefix; '' = all) at Consul index `index`. */
  private merge(sub: string, entries: readonly KvEntry[], index: number): void {
    const changed = new Set<string>();
    const seen = new Set<string>();
    for (const e of entries) {
      seen.add(e.key);
      const cur = this.known.get(e.key);
      if (cur !== undefined && cur.modifyIndex >= e.modifyIndex) continue;
      const id = this.o.layout.marketFromKey(e.key);
      this.known.set(e.key, { modifyIndex: e.modifyIndex, id });
      if (id === undefined) {
        if (!e.key.endsWith('/')) this.o.onInvalid(e.key, ['(key): not a valid market id']);
        continue;
      }
      const d = decodeJson(MarketRecordSchema, e.value);
      if (!d.ok) {
        this.o.onInvalid(e.key, d.problems); // the last good record stays
        continue;
      }
      const old = this.records.get(id);
      if (old === undefined || old.cell !== d.value.cell || old.state !== d.value.state || old.epoch !== d.value.epoch) {
        this.records.set(id, d.value);
        changed.add(id);
      }
    }
    // Keys gone from an answer were deleted, unless a newer answer (index above this one) saw
    // them. A shard is scanned only when its answer shrank (a delete and an add in one wake
    // are left to the full read).
    const shrank = sub !== '' && entries.length < (this.shardCounts.get(sub) ?? 0);
    if (sub !== '') this.shardCounts.set(sub, entries.length);
    if (sub === '' || shrank) {
      const prefix = this.o.layout.marketsPrefix + sub;
      for (const [key, cur] of [...this.known]) {
        if (seen.has(key) || cur.modifyIndex > index || !key.startsWith(prefix)) continue;
        this.known.delete(key);
        if (cur.id !== undefined && this.records.delete(cur.id)) changed.add(cur.id);
      }
    }
    if (changed.size > 0 && !this.stopped) this.o.onChange(changed);
  }

  /** How many of `ids` no shard covers (0 when there are no shards). */
  private uncovered(ids: readonly string[]): number {
    if (this.shards.size === 0) return 0;
    const lengths = [...new Set([...this.shards.keys()].map((p) => p.length))];
    let n = 0;
    for (const id of ids) if (!lengths.some((l) => this.shards.has(id.slice(0, l)))) n += 1;
    return n;
  }

  private reshard(): void {
    if (this.stopped) return;
    const ids = [...this.records.keys()];
    // Re-partition when the key count moved by more than 10% since the last partition, or when
    // more than 1% of the keys fall outside every shard (they would wait for the full read).
    this.lastUncovered = this.uncovered(ids);
    if (
      this.partitionedAt > 0 &&
      Math.abs(ids.length - this.partitionedAt) <= this.partitionedAt * 0.1 &&
      this.lastUncovered <= Math.max(50, ids.length * 0.01)
    )
      return;
    this.partitionedAt = Math.max(1, ids.length);
    const wanted =
      ids.length < (this.o.shardFrom ?? 5000) ? [] : partitionPrefixes(ids, this.o.shardTarget ?? 1000, this.o.maxShards ?? 448);
    const want = new Set(wanted);
    const lengths = [...new Set(wanted.map((p) => p.length))];
    const used = new Set<string>();
    for (const id of ids) for (const l of lengths) if (want.has(id.slice(0, l))) used.add(id.slice(0, l));
    for (const [p, w] of this.shards) {
      if (!want.has(p)) {
        w.stop();
        this.shards.delete(p);
        this.shardCounts.delete(p);
      }
    }
    this.emptyShards.clear();
    for (const p of wanted) {
      if (this.shards.has(p)) continue;
      if (used.has(p)) this.watchShard(p);
      else this.emptyShards.add(p);
    }
    if (this.emptyShards.size > 0 && this.emptyWake === undefined) this.startEmptyWake();
    this.lastUncovered = this.uncovered(ids);
    this.o.log.info(
      { shards: this.shards.size, emptyShards: this.emptyShards.size, markets: ids.length, uncovered: this.lastUncovered },
      'market shard watches',
    );
  }

  private watchShard(p: string): void {
    const prefix = this.o.layout.marketsPrefix + p;
    this.shards.set(
      p,
      watch<KvEntry[]>(
        (index, wait, signal) => this.list(prefix, index, wait, signal),
        {
          onChange: ({ value, index }) => this.merge(p, value, index),
          onError: (err, attempt, retry) => this.o.onError(`markets/${p}*`, err, attempt, retry),
        },
        { wait: this.o.wait ?? '30s' },
      ),
    );
  }

  /** One blocking query on a prefix no market ID can have ('~'): Consul answers it on every KV write. */
  private startEmptyWake(): void {
    const prefix = `${this.o.layout.marketsPrefix}~`;
    this.emptyWake = watch<KvEntry[]>(
      (index, wait, signal) => this.list(prefix, index, wait, signal),
      {
        onChange: () => this.readEmpty(),
        onError: (err, attempt, retry) => this.o.onError('markets/(empty shards)', err, attempt, retry),
      },
      { wait: this.o.wait ?? '30s' },
    );
  }

  /** Reads every empty shard in transactions of 64 get-tree operations, at most every 250 ms. */
  private readEmpty(): void {
    if (this.stopped || this.emptyShards.size === 0) return;
    if (this.emptyReading) {
      this.emptyDirty = true;
      return;
    }
    this.emptyReading = true;
    const wait = Math.max(0, this.emptyLastAt + 250 - performance.now());
    setTimeout(() => void this.readEmptyNow(), wait).unref();
  }

  private async readEmptyNow(): Promise<void> {
    const shards = [...this.emptyShards];
    const found = new Map<string, KvEntry[]>();
    try {
      for (let i = 0; i < shards.length && !this.stopped; i += 64) {
        const ops = shards.slice(i, i + 64).map((p): TxnKvOp => ({ KV: { Verb: 'get-tree', Key: this.o.layout.marketsPrefix + p } }));
        const res = await this.o.consul.kv.txn(ops);
        if (!res.ok) throw new Error(`transaction rolled back: ${res.errors.map((e) => e.what).join('; ')}`);
        for (const kv of res.results) {
          const p = shards.find((s) => kv.key.startsWith(this.o.layout.marketsPrefix + s));
          if (p === undefined) continue;
          let list = found.get(p);
          if (!list) found.set(p, (list = []));
          list.push({ key: kv.key, value: kv.value, modifyIndex: kv.modifyIndex });
        }
      }
    } catch (err) {
      this.o.onError('markets/(empty shards)', err as Error, 1, 250);
    }
    for (const [p, entries] of found) {
      if (this.stopped || !this.emptyShards.delete(p)) continue;
      this.merge(p, entries, Math.max(...entries.map((e) => e.modifyIndex)));
      this.watchShard(p); // it has keys now: its own watch from here on
    }
    this.emptyLastAt = performance.now();
    this.emptyReading = false;
    if (this.emptyDirty) {
      this.emptyDirty = false;
      this.readEmpty();
    }
  }
}
