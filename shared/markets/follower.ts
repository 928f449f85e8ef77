/**
 * The one market follower of cellsim: both planes (the router's table worker, the xDS server)
 * follow `markets/` through it (docs/contracts.md §Following Consul).
 *
 * - **Changes**: one blocking read of the change log (./change-log.ts) wakes on every product
 *   write of a market record; the follower reads the markets named since its last read, one key
 *   each, and applies them. A move costs one small log read and one key read, whatever the
 *   number of markets.
 * - **Listing**: the whole prefix, streamed into a {@link KvPrefixDiff}, at start and then as a
 *   reconcile: a blocking read paced at `costFactor` times its own cost (between `minMs` and
 *   `maxMs`; `minMs` after a listing that found writes the log did not name, as during a bulk
 *   load; blocking only while a listing is small), so writes made without the log (an operator's `consul kv put`, a lost wake-up) are
 *   still seen, later. A gap in the log (more changes than it holds), a log that went backwards (a
 *   Consul that lost its data) or an unreadable log wakes the listing at once.
 *
 * Every answer is merged by ModifyIndex (kv-diff.ts), so a listing older than a point read never
 * undoes it. The caller passes the Consul client, so each plane keeps its transport.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { kvPairsOf, type ConsulClient } from '../consul/client.js';
import { ConsulError } from '../consul/errors.js';
import { watch, type Watch } from '../consul-watch.js';
import { KvPrefixDiff, type KvDiff } from '../kv-diff.js';
import { readKvListing } from '../kv-listing.js';
import { MarketRecordSchema, decodeJson, type KvLayout, type MarketRecord } from '../kv.js';
import { isMarketId } from '../market.js';
import { ChangeLogSchema, EMPTY_CHANGE_LOG, changesSince, type ChangeLog } from './change-log.js';

/** A listing larger than this (bytes) is next read without blocking, and paced by its whole cost (see listLoop). */
const BLOCKING_MAX_BYTES = 1 << 20;
/** The blocking wait of a listing (see listLoop). */
const LISTING_WAIT = '5s';

/** How the listing (the reconcile) is paced. */
export interface ReconcilePacing {
  /** Shortest pause between listings, ms [250]. */
  minMs?: number;
  /** Longest pause between listings, ms [60 000]. */
  maxMs?: number;
  /**
   * The pause is this many times the last listing's cost [20 under 1 MiB, 100 above]: a big
   * listing takes at most 1/100 of the time, so at most about 1 move in 100 meets one (each
   * listing slows what runs beside it).
   */
  costFactor?: number;
}

/** What one applied answer was and cost. */
export interface FollowStep {
  /** `listing`: a read of the whole prefix; `changes`: the log and the keys it named. */
  via: 'listing' | 'changes';
  /** Consul index of the answer. */
  index: number;
  /** Bytes read for it. */
  bytes: number;
  /** Answer headers to last byte, ms (for `changes`: the log and its key reads). */
  fetchMs: number;
  /** Scan, diff and validation, ms. */
  diffMs: number;
  /** When the answer arrived (epoch ms). */
  receivedAt: number;
}

/** Options of {@link MarketFollower}. */
export interface MarketFollowerOptions {
  consul: ConsulClient;
  layout: KvLayout;
  /** Blocking wait of each read, Consul syntax ['30s']. */
  wait?: string;
  pacing?: ReconcilePacing;
  /** Key reads in flight at once [8]. */
  concurrency?: number;
  /** Every applied answer: what changed (maybe nothing) and what it cost. `complete` once a listing answered. */
  onDiff(diff: KvDiff<MarketRecord>, step: FollowStep, complete: boolean): void;
  /** A read failed; the follower retries after `retryInMs`. `what`: the listing or the change log. */
  onError(what: 'listing' | 'changes', err: Error, attempt: number, retryInMs: number): void;
  /** A read answered (Consul reachable). */
  onOk?(index: number): void;
  /**
   * Longest wait before a failed read is tried again, ms [2000]: the bound on how late the follower
   * reads a Consul that answers again (after a partition, say) once its backoff has grown.
   */
  maxRetryMs?: number;
}

/** What the follower has done (for /readyz and /xds/status). */
export interface FollowerInfo {
  markets: number;
  /** The last change of the log applied (undefined before the first read of it). */
  changeSeq: number | undefined;
  listings: number;
  /** Listings started at once because of a gap, a reset or an unreadable log. */
  forcedListings: number;
  keyReads: number;
  /** Current pause between listings, ms. */
  listingIntervalMs: number;
  /** Bytes read in all: by listings, and for changes (the log and the keys it named). */
  bytes: { listings: number; changes: number };
  /** The last applied change (a move): how it came and what it cost. */
  lastChange: FollowStep | undefined;
}

/** Follows `markets/`: the change log for each write, a paced listing for everything else. */
export class MarketFollower {
  /** The held records, by market ID (read-only for callers). */
  readonly records: KvPrefixDiff<MarketRecord>;
  private readonly o: MarketFollowerOptions;
  private readonly wait: string;
  private changes: Watch | undefined;
  /** The last change applied; undefined until the log was read once, or after an unreadable log. */
  private seq: number | undefined;
  private listed = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private wakeListing: (() => void) | undefined;
  /** A listing must run now, without blocking (a gap, a reset). */
  private listingDue = false;
  /** Cuts the blocking listing in flight (see {@link forceListing}). */
  private blockingListing: AbortController | undefined;
  private baseline: Promise<void>;
  private baselineKnown: () => void = () => undefined;
  private readonly stats = { listings: 0, forcedListings: 0, keyReads: 0, intervalMs: 0, listingBytes: 0, changeBytes: 0 };
  private lastChange: FollowStep | undefined;

  constructor(o: MarketFollowerOptions) {
    this.o = o;
    this.wait = o.wait ?? '30s';
    this.records = new KvPrefixDiff<MarketRecord>(o.layout.marketsPrefix, isMarketId, (t) => decodeJson(MarketRecordSchema, t));
    this.baseline = new Promise((resolve) => (this.baselineKnown = resolve));
  }

  /** True once a listing answered: the records are the whole table. */
  get ready(): boolean {
    return this.listed;
  }

  /** Loads records known from elsewhere (a snapshot); the first listing replaces them. */
  seed(records: readonly (readonly [string, MarketRecord, number])[]): void {
    this.records.seed(records);
  }

  /** Starts following: the change log first (its position), then the listing. */
  start(): void {
    this.changes = watch<number>(
      async (index, wait, signal) => {
        const r = await this.readChanges(index, wait, signal);
        return { index: r, value: r };
      },
      {
        onChange: () => undefined,
        onError: (err, attempt, retryInMs) => this.o.onError('changes', err, attempt, retryInMs),
      },
      { wait: this.wait, initialDelayMs: 100, maxDelayMs: this.o.maxRetryMs ?? 2000 },
    );
    void this.listLoop();
  }

  /** Stops every read. */
  stop(): void {
    this.stopped = true;
    this.changes?.stop();
    this.abort.abort();
    this.blockingListing?.abort();
    this.wakeListing?.();
    this.baselineKnown();
  }

  info(): FollowerInfo {
    return {
      markets: this.records.size,
      changeSeq: this.seq,
      listings: this.stats.listings,
      forcedListings: this.stats.forcedListings,
      keyReads: this.stats.keyReads,
      listingIntervalMs: Math.round(this.stats.intervalMs),
      bytes: { listings: this.stats.listingBytes, changes: this.stats.changeBytes },
      lastChange: this.lastChange,
    };
  }

  /** One blocking read of the change log, then the key reads it calls for. Returns the log's index. */
  private async readChanges(index: number, wait: string, signal: AbortSignal): Promise<number> {
    const key = this.o.layout.marketChangesKey;
    // a blocking read: the client's headers timeout follows its wait (shared/consul/http.ts)
    const res = await this.o.consul.kv.stream(key, 'exact', { index, wait, signal });
    if (index > 0 && res.index > 0 && res.index < index) this.forceListing(); // Consul's index went back: it restarted
    const receivedAt = Date.now();
    const t1 = performance.now();
    const text = res.status === 404 ? (await res.body.dump(), '') : await res.body.text();
    let bytes = Buffer.byteLength(text);
    this.stats.changeBytes += bytes;
    this.o.onOk?.(res.index);
    const log = res.status === 404 ? EMPTY_CHANGE_LOG : parseLog(text);
    if (log === undefined) {
      // unreadable: its position is lost; the listing catches up, and the next readable log restarts
      this.seq = undefined;
      this.forceListing();
      this.baselineKnown();
      return res.index;
    }
    if (this.seq === undefined) {
      const first = !this.listed && index === 0;
      this.seq = log.seq;
      this.baselineKnown();
      if (!first) this.forceListing(); // the position was lost: the listing covers what was missed
      return res.index;
    }
    const since = changesSince(log, this.seq);
    if (since.kind !== 'changes') {
      this.seq = log.seq;
      this.forceListing();
      return res.index;
    }
    if (since.markets.length === 0) return res.index;
    const diff: KvDiff<MarketRecord> = { upserts: [], removed: [], invalid: [], examined: 0 };
    let diffMs = 0;
    const n = this.o.concurrency ?? 8;
    for (let i = 0; i < since.markets.length && !this.stopped; i += n) {
      const reads = await Promise.all(since.markets.slice(i, i + n).map((id) => this.readKey(id, signal)));
      for (const r of reads) {
        bytes += r.bytes;
        this.stats.changeBytes += r.bytes;
        const t = performance.now();
        const d = this.records.applyPoint(r.id, r.value, r.modifyIndex);
        diffMs += performance.now() - t;
        diff.upserts.push(...d.upserts);
        diff.removed.push(...d.removed);
        diff.invalid.push(...d.invalid);
        diff.examined += d.examined;
      }
    }
    if (this.stopped) return res.index;
    this.seq = log.seq;
    this.stats.keyReads += since.markets.length;
    const step: FollowStep = { via: 'changes', index: res.index, bytes, fetchMs: performance.now() - t1 - diffMs, diffMs, receivedAt };
    this.lastChange = step;
    this.o.onDiff(diff, step, this.listed);
    return res.index;
  }

  /** One market key: its base64 value and ModifyIndex, or no value (absent) at the read's index. */
  private async readKey(
    id: string,
    signal: AbortSignal,
  ): Promise<{ id: string; value: string | null | undefined; modifyIndex: number; bytes: number }> {
    const res = await this.o.consul.kv.stream(this.o.layout.marketKey(id), 'exact', { signal, timeoutMs: 5000 });
    if (res.status === 404) {
      await res.body.dump();
      return { id, value: undefined, modifyIndex: res.index, bytes: 0 };
    }
    const text = await res.body.text();
    const what = `GET ${this.o.layout.marketKey(id)}`;
    const [pair] = kvPairsOf(text, what);
    if (pair === undefined) throw new ConsulError('consul_invalid_answer', `${what}: no KV item`);
    // applyPoint takes the value as Consul sends it (base64), as listings do
    const value = pair.value === null ? null : Buffer.from(pair.value).toString('base64');
    return { id, value, modifyIndex: pair.modifyIndex, bytes: Buffer.byteLength(text) };
  }

  private forceListing(): void {
    if (!this.listed) return; // the first listing is still to come
    this.stats.forcedListings += 1;
    this.listingDue = true;
    this.wakeListing?.();
    // A blocking listing in flight may wait out its whole `wait` on a restarted Consul whose index
    // is below the one it asked for: it is cut, and the listing is read again without an index.
    this.blockingListing?.abort();
  }

  /** The listing loop: at start, then paced (see the module comment). */
  private async listLoop(): Promise<void> {
    await this.baseline; // the log's position first: every change after it is in the listing or read from the log
    const pacing = this.o.pacing ?? {};
    let index = 0;
    let attempt = 0;
    let lastBytes = 0;
    while (!this.stopped) {
      try {
        const due = this.listingDue;
        this.listingDue = false;
        // A blocking listing is answered by the next write under the prefix: the very moment a
        // move is due. Past BLOCKING_MAX_BYTES, the listing asks for the prefix as it is now,
        // so Consul builds it at a time of its own, not while a move's reads wait.
        const blocking = !due && index > 0 && lastBytes < BLOCKING_MAX_BYTES;
        const t0 = performance.now();
        const l = await readKvListing(this.o.consul, this.records, this.o.layout.marketsPrefix, {
          index: blocking ? index : 0,
          // short: on a Consul that restarted with a lower index, a blocking read waits out all of it
          wait: LISTING_WAIT,
          signal: blocking ? (this.blockingListing = new AbortController()).signal : this.abort.signal,
          timeoutMs: blocking ? undefined : 30_000, // blocking: the client's, from the wait
        });
        // Its cost: for a read that did not block, from the request on (Consul builds the whole
        // answer before its headers: at 100,000 markets most of the cost is there).
        const costMs = blocking ? l.fetchMs : performance.now() - t0;
        lastBytes = l.bytes;
        attempt = 0;
        index = l.index > 0 ? l.index : 0;
        this.listed = true;
        this.stats.listings += 1;
        this.stats.listingBytes += l.bytes;
        this.o.onOk?.(l.index);
        this.o.onDiff(
          l.diff,
          { via: 'listing', index: l.index, bytes: l.bytes, fetchMs: l.fetchMs, diffMs: l.diffMs, receivedAt: l.receivedAt },
          true,
        );
        const min = pacing.minMs ?? 250;
        // A listing that found changes the log did not name (a bulk load with plain KV writes, say):
        // more may be on their way, so the next one follows soon; otherwise the pause of its cost.
        const unlogged = l.diff.upserts.length + l.diff.removed.length + l.diff.invalid.length > 0;
        // A small listing costs Consul little and its wall time is mostly latency (on a loaded
        // machine, tens of ms for a few markets): 20x its transfer; a big one 100x its whole cost.
        const factor = pacing.costFactor ?? (l.bytes < BLOCKING_MAX_BYTES ? 20 : 100);
        this.stats.intervalMs = unlogged ? min : Math.min(pacing.maxMs ?? 60_000, Math.max(min, factor * costMs));
        await this.pause(this.stats.intervalMs);
      } catch (err) {
        if (this.stopped) return;
        if (this.listingDue && this.blockingListing?.signal.aborted) continue; // cut on purpose: read again at once
        attempt += 1;
        index = 0; // the next answer may come from a Consul that restarted: read without an index
        const retryInMs = Math.min(this.o.maxRetryMs ?? 2000, 100 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
        this.o.onError('listing', err as Error, attempt, retryInMs);
        await this.pause(retryInMs);
      }
    }
  }

  /** Waits `ms`, or until a listing is due (a gap in the log) or the follower stops. */
  private async pause(ms: number): Promise<void> {
    if (this.stopped || this.listingDue) return;
    const woken = new Promise<void>((resolve) => (this.wakeListing = resolve));
    await Promise.race([sleep(ms, undefined, { ref: false }), woken]);
    this.wakeListing = undefined;
  }
}

/** The change log in a read of its key; undefined when its value is no change log. */
function parseLog(text: string): ChangeLog | undefined {
  const d = decodeJson(ChangeLogSchema, kvPairsOf(text, 'GET the markets change log')[0]?.value);
  return d.ok ? d.value : undefined;
}
