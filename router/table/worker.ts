/**
 * The table worker thread: follows Consul (markets/, cells/, passing cellsim-cell) with
 * blocking queries, turns each full listing into a diff, and posts only the diff to the main
 * thread. A recursive KV blocking query returns the whole prefix on every change: markets/ is
 * followed in shards (market-shards.ts) so a move re-reads a thirty-sixth of it, and reading
 * and diffing here keeps request handling on the main thread from stalling. Also loads the
 * snapshot at start and writes it after changes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { bulkhead } from 'cockatiel';
import { ConsulClient } from '../../shared/consul/client.js';
import { nodeHttpTransport } from '../../shared/consul/node-http.js';
import { watch, endpointFromHealth, SERVICE_CELL, type Watch, type WatchResult } from '../../shared/consul-watch.js';
import { StringDecoder } from 'node:string_decoder';
import { getHeapStatistics } from 'node:v8';
import { KvPrefixDiff, detachString, type KvDiff, type ListingReader, type RawKvItem } from '../../shared/kv-diff.js';
import { CellIdSchema, CellRecordSchema, KvLayout, decodeJson, type CellRecord, type MarketRecord } from '../../shared/kv.js';
import { byEndpointId, type Endpoint } from '../../shared/routing-table.js';
import { readSnapshot, writeSnapshot } from '../snapshot/index.js';
import { KeyListScanner } from './key-scan.js';
import { MarketShards, type MarketShard } from './market-shards.js';
import type { ListingStats, WatchName, WorkerConfig, WorkerMessage } from './messages.js';

const cfg = (workerData as { config: WorkerConfig }).config;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const layout = new KvLayout(cfg.prefix);
/** The worker's Consul client: on node:http, which keeps undici out of the worker's heap (shared/consul/node-http.ts). */
const consul = new ConsulClient({ url: cfg.consulUrl, transport: nodeHttpTransport() });
const markets = new MarketShards({ layout, max: cfg.marketShards, follow: (s) => watchMarketShard(s) });
const cells = new KvPrefixDiff<CellRecord>(
  layout.cellsPrefix,
  (id) => CellIdSchema.safeParse(id).success,
  (t) => decodeJson(CellRecordSchema, t),
);
let endpoints: Endpoint[] = [];
let endpointsKey = '';
const waitMs = Number(/^(\d+)s$/.exec(cfg.wait)?.[1] ?? 30) * 1000;
/** Until a blocking query's headers arrive: its wait, Consul's jitter (wait/16) and a margin. */
const blockingTimeoutMs = waitMs + waitMs / 16 + 5000;

/** One blocking read of the passing `cellsim-cell` instances, as endpoints. */
async function passingCells(index: number, signal: AbortSignal): Promise<WatchResult<Endpoint[]>> {
  const res = await consul.health.service(SERVICE_CELL, { passing: true, index, wait: cfg.wait, signal, timeoutMs: blockingTimeoutMs });
  post({ type: 'watch-ok', watch: 'endpoints', index: res.index });
  const value = res.value
    .map(endpointFromHealth)
    .filter((e): e is Endpoint => e !== undefined)
    .sort(byEndpointId);
  return { index: res.index, value };
}

/** A KV prefix listing read as a stream into its diff (see shared/kv-diff.ts). */
interface KvListing<T> {
  diff: KvDiff<T>;
  index: number;
  bytes: number;
  fetchMs: number;
  diffMs: number;
  receivedAt: number;
}

async function streamInto<T>(body: AsyncIterable<Uint8Array>, reader: ListingReader<T>): Promise<{ bytes: number; ms: number }> {
  const dec = new StringDecoder('utf8');
  let bytes = 0;
  let ms = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    const t = performance.now();
    reader.push(dec.write(chunk));
    ms += performance.now() - t;
  }
  reader.push(dec.end());
  return { bytes, ms };
}

/**
 * One blocking read of a KV prefix, streamed chunk by chunk into `prefixDiff` (never held as
 * one string). When the fast path cannot decide (a deletion, an index reset), reads the prefix
 * again at once in full mode; text the scanner cannot read falls back to JSON.parse.
 */
async function kvListing<T>(
  onOk: (index: number) => void,
  prefixDiff: KvPrefixDiff<T>,
  prefix: string,
  index: number,
  signal: AbortSignal,
  exact = false,
): Promise<WatchResult<KvListing<T>>> {
  const mode = exact ? 'exact' : 'recurse';
  const res = await consul.kv.stream(prefix, mode, { index, wait: cfg.wait, signal, timeoutMs: blockingTimeoutMs });
  const t0 = performance.now(); // the answer started: the blocking wait is not part of its cost
  const listingIndex = res.index;
  let bytes: number;
  let diffMs: number;
  let diff: KvDiff<T> | undefined;
  if (res.status === 404) {
    await res.body.dump();
    // An empty prefix at an index below a ModifyIndex already held is no deletion (that would
    // have moved the index past it) but a Consul that lost its data: keep the last good records
    // (the watch reports the error, the router stays degraded) until the prefix is written again.
    if (prefixDiff.size > 0 && listingIndex < prefixDiff.highestModifyIndex) {
      throw new Error(
        `consul answered ${prefix} empty at index ${listingIndex}, below records held at index ${prefixDiff.highestModifyIndex}: Consul lost its data? the last good records stay until the prefix is written again (or Consul's index passes theirs)`,
      );
    }
    const t = performance.now();
    diff = prefixDiff.applyText('[]', listingIndex);
    bytes = 0;
    diffMs = performance.now() - t;
  } else {
    const reader = prefixDiff.reader(listingIndex);
    ({ bytes, ms: diffMs } = await streamInto(res.body, reader));
    diff = reader.end();
    if (diff === undefined) {
      const again = await consul.kv.stream(prefix, mode, { signal, timeoutMs: 30_000 });
      const full = prefixDiff.reader(listingIndex, 'full');
      const r = await streamInto(again.body, full);
      bytes += r.bytes;
      diffMs += r.ms;
      diff = full.end();
      if (diff === undefined) {
        const last = await consul.kv.stream(prefix, mode, { signal, timeoutMs: 30_000 });
        diff = prefixDiff.apply(JSON.parse(await last.body.text()) as RawKvItem[]);
      }
    }
  }
  onOk(listingIndex);
  const listing: KvListing<T> = { diff, index: listingIndex, bytes, fetchMs: performance.now() - t0, diffMs, receivedAt: Date.now() };
  return { index: listingIndex, value: listing };
}

const onError = (w: WatchName) => (err: Error, attempt: number, retryInMs: number) =>
  post({ type: 'watch-error', watch: w, message: err.message, attempt, retryInMs });

function postMarkets(
  source: 'consul' | 'snapshot',
  upserts: [string, MarketRecord][],
  removed: string[],
  invalid: { key: string; problems: string[] }[],
  index: number,
  receivedAt: number,
  stats?: ListingStats,
  complete = true,
) {
  if (upserts.length <= cfg.chunk) {
    post({ type: 'markets', source, upserts, removed, invalid, last: complete, index, stats, receivedAt });
    return;
  }
  for (let i = 0; i < upserts.length; i += cfg.chunk) {
    const last = complete && i + cfg.chunk >= upserts.length;
    post({
      type: 'markets',
      source,
      upserts: upserts.slice(i, i + cfg.chunk),
      removed: i + cfg.chunk >= upserts.length ? removed : [],
      invalid: i + cfg.chunk >= upserts.length ? invalid : [],
      last,
      index,
      stats: last ? stats : undefined,
      receivedAt,
    });
  }
}

let snapshotTimer: NodeJS.Timeout | undefined;
let writing = false;
let dirty = false;
let lastWriteAt = 0;
let lastWriteMs = 0;
function scheduleSnapshot() {
  if (!cfg.snapshotPath) return;
  dirty = true;
  if (snapshotTimer || writing) return;
  // debounce, and leave 5× the last write's duration (at most 1 s) between writes: during a
  // bulk load of 100,000 markets every listing would otherwise rewrite the whole file, while a
  // small table is still written within the debounce
  const gap = Math.min(1000, 5 * lastWriteMs);
  const wait = Math.max(cfg.snapshotDebounceMs, lastWriteAt + gap - Date.now());
  snapshotTimer = setTimeout(() => void saveSnapshot(), wait);
}
/**
 * True once markets, cells and endpoints are all held in full (from the snapshot, or one first
 * Consul answer each). Before that a snapshot would persist a partial table (say, cells but no
 * markets yet) that a restart would then load as complete and answer 404 unknown_market from.
 */
function complete(): boolean {
  return fromSnapshot || (markets.complete && !firstCells && endpointsKey !== '');
}
let fromSnapshot = false;

async function saveSnapshot() {
  snapshotTimer = undefined;
  if (!cfg.snapshotPath || !dirty) return;
  if (!complete()) return; // still dirty: the answer that completes the table schedules the write
  dirty = false;
  writing = true;
  const t0 = performance.now();
  try {
    const bytes = await writeSnapshot(cfg.snapshotPath, {
      version: 1,
      savedAt: new Date().toISOString(),
      cells: cells.records(),
      markets: markets.records(),
      endpoints,
    });
    lastWriteAt = Date.now();
    lastWriteMs = performance.now() - t0;
    post({ type: 'snapshot-saved', bytes, ms: lastWriteMs });
  } catch (err) {
    post({ type: 'snapshot-error', op: 'write', message: (err as Error).message });
  } finally {
    writing = false;
    if (dirty) scheduleSnapshot();
  }
}

async function loadSnapshot() {
  if (!cfg.snapshotPath) return;
  try {
    const snap = await readSnapshot(cfg.snapshotPath);
    if (!snap) {
      post({ type: 'snapshot-missing' });
      return;
    }
    cells.seed(snap.cells);
    markets.seed(snap.markets);
    endpoints = snap.endpoints;
    endpointsKey = JSON.stringify(endpoints);
    fromSnapshot = true;
    post({ type: 'cells', source: 'snapshot', cells: snap.cells.map(([id, rec]) => [id, rec]), invalid: [], index: 0 });
    post({ type: 'endpoints', source: 'snapshot', endpoints, index: 0 });
    const all = snap.markets.map(([id, rec]): [string, MarketRecord] => [id, rec]);
    postMarkets('snapshot', all, [], [], 0, Date.now());
    post({
      type: 'snapshot-loaded',
      savedAt: snap.savedAt,
      markets: snap.markets.length,
      cells: snap.cells.length,
      endpoints: endpoints.length,
    });
  } catch (err) {
    post({ type: 'snapshot-error', op: 'read', message: (err as Error).message });
  }
}

function workerHeap(): [number, number] {
  const h = getHeapStatistics();
  return [Math.round(h.used_heap_size / 1048576), Math.round(h.total_heap_size / 1048576)];
}

const watches: Watch[] = [];
let firstCells = true;
const watchOpts = { wait: cfg.wait, initialDelayMs: 100, maxDelayMs: 2000 };

/**
 * First reads of market shards, at most 4 at a time: at start (or after a reshard) every shard's
 * first answer is its whole part of the table, and 61 of them in flight at once at 100,000
 * markets grew the worker's heap to a high-water mark it kept afterwards. Later answers (one
 * shard's change) are not queued.
 */
const firstReads = bulkhead(4, Infinity);

/**
 * The blocking query of one markets shard. Diffs are delivered from inside the query: the
 * prefix diff has already moved on, so an answer must never be dropped (watch() suppresses
 * answers whose index did not move). The table counts as complete (`last`) once every shard
 * answered; `markets` counts as ok while no shard is failing.
 */
function watchMarketShard(shard: MarketShard): Watch {
  const onOk = (index: number) => {
    shard.ok = true;
    if (markets.ok) post({ type: 'watch-ok', watch: 'markets', index });
  };
  return watch<KvListing<MarketRecord>>(
    async (index, _wait, signal) => {
      const read = () => kvListing(onOk, shard.diff, shard.key, index, signal, shard.exact);
      const answer = shard.answered ? await read() : await firstReads.execute(read);
      const l = answer.value;
      const d = l.diff;
      const firstAnswer = !shard.answered;
      shard.answered = true;
      if (firstAnswer || d.upserts.length > 0 || d.removed.length > 0 || d.invalid.length > 0) {
        const stats: ListingStats = {
          bytes: l.bytes,
          fetchMs: l.fetchMs,
          parseMs: 0,
          diffMs: l.diffMs,
          entries: shard.diff.size,
          examined: d.examined,
          cpuMs: l.diffMs,
          workerHeapMb: workerHeap(),
        };
        postMarkets('consul', d.upserts, d.removed, d.invalid, l.index, l.receivedAt, stats, markets.complete);
        scheduleSnapshot();
      }
      // A table that grew or shrank by 10 % under the followed prefixes (a bulk load, say) is
      // re-partitioned at once; markets outside every shard are the discovery's to find.
      // Only once every shard answered: a half-loaded table is not a shrunken one.
      if (markets.settled && markets.drifted(markets.size))
        setImmediate(() => markets.settled && markets.drifted(markets.size) && reshard());
      return answer;
    },
    {
      onChange: () => undefined,
      onError: (err, attempt, retryInMs) => {
        shard.ok = false;
        // One report per failure, not one per shard: the first failing shard speaks for all.
        if (markets.list().find((s) => !s.ok) === shard) onError('markets')(err, attempt, retryInMs);
      },
    },
    watchOpts,
  );
}

/**
 * Moves to a new market partition when it differs; logs the change. `listed`: every market ID of
 * the discovery's listing (`outside` of them in no shard); without it, the held records.
 */
function reshard(listed?: readonly string[], outside = 0) {
  if (stopped) return;
  const before = markets.list().length;
  if (markets.reshard(listed)) {
    const detail = { shards: markets.list().length, before, markets: markets.size, listed: listed?.length, foundOutside: outside };
    post({ type: 'log', level: 'info', msg: 'markets/ watch re-partitioned', detail });
    post({ type: 'market-shards', shards: detail.shards });
  }
}

let stopped = false;
let wakeDiscovery: (() => void) | undefined;
const discoveryAbort = new AbortController();
const invalidReported = new Set<string>();

/** The market IDs among `keys` (keys that name no market left out). */
function marketIds(keys: readonly string[]): string[] {
  return keys.map((k) => layout.marketFromKey(k)).filter((id): id is string => id !== undefined);
}

/** Every key under markets/ now (a keys-only listing, read whole: for a partition). */
async function readMarketKeys(): Promise<{ keys: string[] }> {
  const res = await consul.kv.keys(layout.marketsPrefix, { signal: discoveryAbort.signal, timeoutMs: 5000 });
  return { keys: res.value };
}

/**
 * Before the first market queries, without a snapshot: partitions from a keys-only listing, so
 * a big table is read shard by shard from the start (never as one listing that is then split).
 * Consul unreachable: one query over the prefix, split once it answers.
 */
async function planMarketShards(): Promise<void> {
  if (markets.list().length > 0) return; // seeded from the snapshot
  try {
    const { keys } = await readMarketKeys();
    markets.plan(marketIds(keys));
  } catch {
    // left to the query over the whole prefix (its errors are reported by the watch)
  }
}

/**
 * While markets/ is sharded: a paced keys-only blocking read of the whole prefix finds markets
 * created outside every shard (and keys that are not market IDs), and re-partitions when the
 * table grew or shrank by 10 %. Paced at twenty times its own cost, 3–15 s, so it cannot crowd out
 * the shards' moves.
 */
async function discoverMarkets() {
  let index = 0;
  let pauseMs = 1000;
  while (!stopped) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, pauseMs);
      function done() {
        clearTimeout(t);
        wakeDiscovery = undefined;
        resolve();
      }
      wakeDiscovery = done;
    });
    if (stopped || !markets.sharded) continue;
    try {
      ({ index, pauseMs } = await discoverOnce(index));
    } catch (err) {
      if (stopped) return;
      pauseMs = 2000;
      post({ type: 'log', level: 'warn', msg: 'market discovery read failed', detail: { err: (err as Error).message } });
    }
  }
}

/**
 * Streams one keys-only listing of markets/ into `onKey` (router/table/key-scan.ts), blocking from
 * `index` when > 0. A listing with an escaped key is read again whole (`restart` first).
 */
async function scanMarketKeys(
  index: number,
  onKey: (key: string) => void,
  restart: () => void,
): Promise<{ index: number; costMs: number }> {
  const res = await consul.kv.stream(layout.marketsPrefix, 'keys', {
    ...(index > 0 ? { index, wait: cfg.wait } : {}),
    signal: discoveryAbort.signal,
    timeoutMs: index > 0 ? blockingTimeoutMs : 5000,
  });
  const t0 = performance.now(); // cost after the answer started (the blocking wait excluded)
  const next = res.index;
  if (res.status === 404) {
    await res.body.dump();
  } else {
    const scanner = new KeyListScanner(onKey);
    const dec = new StringDecoder('utf8');
    for await (const chunk of res.body) scanner.push(dec.write(chunk));
    scanner.push(dec.end());
    if (!scanner.end()) {
      restart();
      for (const key of (await readMarketKeys()).keys) onKey(key);
    }
  }
  return { index: next < index ? 0 : next, costMs: performance.now() - t0 };
}

/**
 * One discovery read, streamed: it counts the listed markets and those outside every shard and
 * notes keys that are no market ID, holding no key of the listing. Only when it must re-partition
 * does it read the listing whole (the partition needs every ID). Parsing the whole listing on every
 * read (100,000 strings at 100,000 markets, every 3-15 s) grew the worker's heap between
 * collections.
 */
async function discoverOnce(since: number): Promise<{ index: number; pauseMs: number }> {
  const fresh = () => ({ listed: 0, outside: 0, invalid: [] as { key: string; problems: string[] }[] });
  let found = fresh();
  const answer = await scanMarketKeys(
    Math.max(since, 1),
    (key) => {
      const id = layout.marketFromKey(key);
      if (id === undefined) {
        if (!key.endsWith('/') && !invalidReported.has(key)) {
          const copy = detachString(key);
          invalidReported.add(copy);
          found.invalid.push({ key: copy, problems: ['(key): not a valid id'] });
        }
        return;
      }
      found.listed += 1;
      if (markets.shardOf(id) === undefined) found.outside += 1;
    },
    () => (found = fresh()),
  );
  if (found.invalid.length > 0) postMarkets('consul', [], [], found.invalid, answer.index, Date.now());
  if (found.outside > 0 || markets.drifted(found.listed)) {
    reshard(marketIds((await readMarketKeys()).keys), found.outside);
  }
  return { index: answer.index, pauseMs: Math.min(15_000, Math.max(3000, 20 * answer.costMs)) };
}

function startWatches() {
  const opts = watchOpts;
  void planMarketShards().then(() => {
    if (stopped) return;
    markets.start();
    post({ type: 'market-shards', shards: markets.list().length });
    void discoverMarkets();
  });
  const ok = (w: WatchName) => (index: number) => post({ type: 'watch-ok', watch: w, index });
  watches.push(
    watch<KvListing<CellRecord>>(
      async (index, _wait, signal) => {
        const answer = await kvListing(ok('cells'), cells, layout.cellsPrefix, index, signal);
        const d = answer.value.diff;
        if (firstCells || d.upserts.length > 0 || d.removed.length > 0 || d.invalid.length > 0) {
          firstCells = false;
          post({
            type: 'cells',
            source: 'consul',
            cells: cells.records().map(([id, rec]) => [id, rec]),
            invalid: d.invalid,
            index: answer.value.index,
          });
          scheduleSnapshot();
        }
        return answer;
      },
      { onChange: () => undefined, onError: onError('cells') },
      opts,
    ),
    watch<Endpoint[]>(
      (index, _wait, signal) => passingCells(index, signal),
      {
        onChange: ({ value: next, index }) => {
          const key = JSON.stringify(next);
          if (key === endpointsKey) return; // unchanged (watch-ok already confirmed it)
          endpoints = next;
          endpointsKey = key;
          post({ type: 'endpoints', source: 'consul', endpoints, index });
          scheduleSnapshot();
        },
        onError: onError('endpoints'),
      },
      opts,
    ),
  );
}

port.on('message', (m: { type: string }) => {
  if (m.type === 'stop') {
    stopped = true;
    wakeDiscovery?.();
    discoveryAbort.abort();
    markets.stop();
    for (const w of watches) w.stop();
    if (snapshotTimer) clearTimeout(snapshotTimer);
    void (dirty && !writing ? saveSnapshot() : Promise.resolve()).finally(() => port.close());
  }
});

await loadSnapshot();
startWatches();
