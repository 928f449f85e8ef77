/**
 * The table worker thread: follows Consul (markets/ through the shared market follower, cells/,
 * the passing `cellsim-cell` instances) and posts only what changed to the main thread, so
 * reading and diffing never stall request handling. Also loads the snapshot at start and
 * writes it after changes (./snapshot-saver.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { ConsulClient, followedCaFromEnv } from '../../shared/consul/client.js';
import { nodeHttpTransport } from '../../shared/consul/node-http.js';
import { watch, endpointFromHealth, SERVICE_CELL, type Watch, type WatchResult } from '../../shared/consul-watch.js';
import { KvPrefixDiff, type KvDiff } from '../../shared/kv-diff.js';
import { readKvListing, type KvListing } from '../../shared/kv-listing.js';
import { CellIdSchema, CellRecordSchema, KvLayout, decodeJson, type CellRecord, type MarketRecord } from '../../shared/kv.js';
import { MarketFollower, type FollowStep } from '../../shared/markets/follower.js';
import { byEndpointId, type Endpoint } from '../../shared/routing-table.js';
import { readSnapshot } from '../snapshot/index.js';
import { marketMessages, type MarketsUpdate } from './market-messages.js';
import type { WatchName, WorkerConfig, WorkerMessage } from './messages.js';
import { SnapshotSaver } from './snapshot-saver.js';

const cfg = (workerData as { config: WorkerConfig }).config;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const layout = new KvLayout(cfg.prefix);
/** The worker's Consul client: on node:http, which keeps undici out of the worker's heap (shared/consul/node-http.ts). */
const consul = new ConsulClient({ url: cfg.consulUrl, transport: nodeHttpTransport({ ca: followedCaFromEnv() }) });
/**
 * Failed reads are tried again after at most 1 s: how late the router reads a Consul (its host's
 * agent) that answers again after a partition, beyond the agent's own reconnection (docs/router.md).
 */
const MAX_RETRY_MS = 1000;
const watchOpts = { wait: cfg.wait, initialDelayMs: 100, maxDelayMs: MAX_RETRY_MS };

const cells = new KvPrefixDiff<CellRecord>(
  layout.cellsPrefix,
  (id) => CellIdSchema.safeParse(id).success,
  (t) => decodeJson(CellRecordSchema, t),
);
let firstCells = true;
let endpoints: Endpoint[] = [];
let endpointsKey = '';
let fromSnapshot = false;
/** True once the follower's first listing answered (or the snapshot was loaded). */
let marketsComplete = false;

const onError = (w: WatchName) => (err: Error, attempt: number, retryInMs: number) =>
  post({ type: 'watch-error', watch: w, message: err.message, attempt, retryInMs });

function postMarkets(u: MarketsUpdate) {
  for (const m of marketMessages(u, cfg.chunk)) post(m);
}

function workerHeap(): [number, number] {
  const h = getHeapStatistics();
  return [Math.round(h.used_heap_size / 1048576), Math.round(h.total_heap_size / 1048576)];
}

const markets = new MarketFollower({
  consul,
  layout,
  wait: cfg.wait,
  maxRetryMs: MAX_RETRY_MS,
  onOk: (index) => {
    post({ type: 'watch-ok', watch: 'markets', index });
  },
  onError: (_what, err, attempt, retryInMs) => onError('markets')(err, attempt, retryInMs),
  onDiff: (d: KvDiff<MarketRecord>, step: FollowStep, complete: boolean) => {
    const firstComplete = complete && !marketsComplete;
    marketsComplete ||= complete;
    if (!firstComplete && d.upserts.length === 0 && d.removed.length === 0 && d.invalid.length === 0) {
      // nothing new for the table (a listing read it first), but the follower's position moved
      post({ type: 'follower', info: markets.info(), via: step.via });
      return;
    }
    const stats = {
      bytes: step.bytes,
      fetchMs: step.fetchMs,
      parseMs: 0,
      diffMs: step.diffMs,
      entries: markets.records.size,
      examined: d.examined,
      cpuMs: step.diffMs,
      workerHeapMb: workerHeap(),
    };
    postMarkets({ source: 'consul', ...d, index: step.index, receivedAt: step.receivedAt, stats, complete: marketsComplete });
    post({ type: 'follower', info: markets.info(), via: step.via });
    snapshots?.schedule();
  },
});

/** True once markets, cells and endpoints are all held in full (from the snapshot, or one first Consul answer each). */
const complete = () => fromSnapshot || (marketsComplete && !firstCells && endpointsKey !== '');

const snapshots = cfg.snapshotPath
  ? new SnapshotSaver({
      path: cfg.snapshotPath,
      debounceMs: cfg.snapshotDebounceMs,
      complete,
      collect: () => ({ cells: cells.records(), markets: markets.records.eachRecord(), endpoints }),
      saved: (bytes, ms) => post({ type: 'snapshot-saved', bytes, ms }),
      failed: (err) => post({ type: 'snapshot-error', op: 'write', message: err.message }),
    })
  : undefined;

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
    postMarkets({ source: 'snapshot', upserts: all, removed: [], invalid: [], index: 0, receivedAt: Date.now(), complete: true });
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

/** One blocking read of cells/, streamed into its diff. */
async function cellsListing(index: number, signal: AbortSignal): Promise<WatchResult<KvListing<CellRecord>>> {
  const l = await readKvListing(consul, cells, layout.cellsPrefix, { index, wait: cfg.wait, signal });
  post({ type: 'watch-ok', watch: 'cells', index: l.index });
  const d = l.diff;
  if (firstCells || d.upserts.length > 0 || d.removed.length > 0 || d.invalid.length > 0) {
    firstCells = false;
    post({ type: 'cells', source: 'consul', cells: cells.records().map(([id, rec]) => [id, rec]), invalid: d.invalid, index: l.index });
    snapshots?.schedule();
  }
  return { index: l.index, value: l };
}

/** One blocking read of the passing `cellsim-cell` instances, as endpoints. */
async function passingCells(index: number, signal: AbortSignal): Promise<WatchResult<Endpoint[]>> {
  const res = await consul.health.service(SERVICE_CELL, { passing: true, index, wait: cfg.wait, signal });
  post({ type: 'watch-ok', watch: 'endpoints', index: res.index });
  const value = res.value
    .map(endpointFromHealth)
    .filter((e): e is Endpoint => e !== undefined)
    .sort(byEndpointId);
  return { index: res.index, value };
}

const watches: Watch[] = [];
function startWatches() {
  markets.start();
  watches.push(
    // Diffs are delivered from inside the query (the diff has already moved on): onChange has nothing to do.
    watch<KvListing<CellRecord>>(
      (index, _wait, signal) => cellsListing(index, signal),
      { onChange: () => undefined, onError: onError('cells') },
      watchOpts,
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
          snapshots?.schedule();
        },
        onError: onError('endpoints'),
      },
      watchOpts,
    ),
  );
}

port.on('message', (m: { type: string }) => {
  if (m.type !== 'stop') return;
  markets.stop();
  for (const w of watches) w.stop();
  void (snapshots?.flush() ?? Promise.resolve()).finally(() => port.close());
});

await loadSnapshot();
startWatches();
