/**
 * The main-thread side of the routing table: starts the table worker, applies its diffs to
 * the {@link RoutingStore}, and keeps the status behind /readyz (loaded, source, degraded,
 * per-watch health, table age). Invalid Consul values are logged and counted here.
 */
import { Worker } from 'node:worker_threads';
import type { CellRecord } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { FollowerInfo } from '../../shared/markets/follower.js';
import type { RoutingStore } from '../../shared/routing-store.js';
import { runsBundled } from '../../shared/bundled.js';
import type { RouterMetrics } from '../metrics.js';
import type { ListingStats, TableSourceKind, WatchName, WorkerConfig, WorkerMessage } from './messages.js';

/** Health of one Consul watch. */
export interface WatchStatus {
  ok: boolean;
  lastOkAt: number | undefined;
  errors: number;
  lastError: string | undefined;
}

/** Options of {@link TableSource}. */
export interface TableSourceOptions {
  consulUrl: string;
  prefix: string;
  snapshotPath?: string;
  /**
   * The worker's old-generation heap limit, MB [512]. V8 lets a heap grow to up to 4x its live size
   * between collections when the limit is large (the default of several GB); at 512 MB or less the
   * factor stays near 1.3-1.4 (V8's heap controller scales it with the limit). What the worker holds
   * at 100,000 markets and what its heap reached with the default limit: docs/router.md §Memory.
   */
  tableHeapMb?: number;
  wait?: string;
  chunk?: number;
  snapshotDebounceMs?: number;
  logger: Logger;
  metrics: RouterMetrics;
}

/** Default of `--table-heap-mb` (see {@link TableSourceOptions.tableHeapMb}). */
export const DEFAULT_TABLE_HEAP_MB = 512;

/** What /readyz reports about the table. */
export interface TableStatus {
  ready: boolean;
  degraded: boolean;
  source: TableSourceKind | 'none';
  markets: number;
  cells: number;
  endpoints: number;
  ageSeconds: number | undefined;
  snapshot: { loadedFrom?: string; savedAt?: string; lastWriteError?: string };
  watches: Record<WatchName, WatchStatus>;
  /** The market follower's counters (shared/markets/follower.ts): change-log position, listings, key reads. */
  marketFollower: FollowerInfo | undefined;
  lastMarketsChange: (ListingStats & { applyMs: number; receiptToAppliedMs: number; at: string }) | undefined;
}

const WATCHES: WatchName[] = ['markets', 'cells', 'endpoints'];

/** Follows Consul through the worker thread and keeps `store` current. */
export class TableSource {
  private worker: Worker | undefined;
  private readonly loaded: Record<WatchName, TableSourceKind | undefined> = { markets: undefined, cells: undefined, endpoints: undefined };
  private readonly watches: Record<WatchName, WatchStatus>;
  private snapshotSavedAt: number | undefined;
  private snapshotInfo: TableStatus['snapshot'] = {};
  private lastChange: TableStatus['lastMarketsChange'];
  private readyWaiters: (() => void)[] = [];
  private pendingMarkets: Record<TableSourceKind, boolean> = { consul: false, snapshot: false };
  private follower: FollowerInfo | undefined;
  /** Worker restarts in a row without a complete table in between (the backoff's exponent). */
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** After a restart, until the new worker's table is complete: every market ID it reported. */
  private reloadSeen: Set<string> | undefined;

  private readonly heapMb: number;

  constructor(
    private readonly store: RoutingStore,
    private readonly opts: TableSourceOptions,
  ) {
    this.heapMb = opts.tableHeapMb ?? DEFAULT_TABLE_HEAP_MB;
    const w = (): WatchStatus => ({ ok: false, lastOkAt: undefined, errors: 0, lastError: undefined });
    this.watches = { markets: w(), cells: w(), endpoints: w() };
  }

  /** Starts the worker (snapshot load, then Consul watches). */
  start(): void {
    const config: WorkerConfig = {
      consulUrl: this.opts.consulUrl,
      prefix: this.opts.prefix,
      snapshotPath: this.opts.snapshotPath,
      wait: this.opts.wait ?? '30s',
      chunk: this.opts.chunk ?? 5000,
      snapshotDebounceMs: this.opts.snapshotDebounceMs ?? 100,
    };
    // Bundled (bin/bundle.mjs), the worker is `worker.js` beside the bundle's entry (resolved
    // against the bundle: the bundle keeps `import.meta.url` the source file's); otherwise
    // boot.mjs registers tsx in the worker and loads worker.ts.
    this.worker = new Worker(runsBundled() ? new URL(import.meta.resolve('./worker.js')) : new URL('./boot.mjs', import.meta.url), {
      workerData: { __entry: new URL('./worker.ts', import.meta.url).href, config },
      env: process.env,
      // A small young generation: the worker's garbage is per-listing text, short-lived.
      resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: this.heapMb },
    });
    const worker = this.worker;
    worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    let failure: NodeJS.ErrnoException | undefined;
    worker.on('error', (err) => {
      failure = err;
      this.opts.logger.error({ err }, 'table worker failed');
    });
    worker.once('exit', (code) => {
      if (this.worker !== worker) return; // closed
      this.worker = undefined;
      this.workerFailed(failure, code);
    });
    worker.unref();
  }

  /**
   * The worker ended on its own (out of heap, a bug): nothing follows Consul until a new one runs.
   * The last table stays in force (static stability), every watch reports the failure (/readyz and
   * cellsim_router_degraded say so), and a new worker starts after a backoff (1 s, doubling up to
   * 60 s while no restart completes a table). The new worker reads the table afresh; once it is
   * complete, markets the store holds that it never reported are removed (deleted meanwhile).
   */
  private workerFailed(err: NodeJS.ErrnoException | undefined, code: number): void {
    const outOfHeap = err?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    const delayMs = Math.min(60_000, 1000 * 2 ** this.restarts);
    this.restarts += 1;
    const message = outOfHeap
      ? `table worker ran out of heap (--table-heap-mb ${this.heapMb}): serving the last table, a new worker in ${delayMs / 1000} s; if this repeats, restart the router with a larger --table-heap-mb`
      : `table worker exited (code ${code}${err ? `: ${err.message}` : ''}): serving the last table, a new worker in ${delayMs / 1000} s`;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed) return;
      this.reloadSeen = new Set();
      this.pendingMarkets = { consul: false, snapshot: false };
      this.start();
    }, delayMs);
    this.restartTimer.unref();
    for (const w of WATCHES) {
      const watch = this.watches[w];
      watch.ok = false;
      watch.errors += 1;
      watch.lastError = message;
      this.opts.metrics.watchErrors.inc({ watch: w });
    }
    this.opts.logger.error({ code, outOfHeap }, message);
  }

  /** True once markets, cells and endpoints are loaded (from Consul or the snapshot). */
  get ready(): boolean {
    return WATCHES.every((w) => this.loaded[w] !== undefined);
  }

  /** Resolves when the table is ready. */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  private markLoaded(w: WatchName, source: TableSourceKind): void {
    if (source === 'consul' || this.loaded[w] === undefined) this.loaded[w] = source;
    if (this.ready && this.readyWaiters.length > 0) {
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const r of waiters) r();
    }
  }

  private logInvalid(kind: 'markets' | 'cells', invalid: { key: string; problems: string[] }[]): void {
    for (const i of invalid) {
      this.opts.metrics.invalidValues.inc({ kind });
      this.opts.logger.warn({ key: i.key, problems: i.problems }, 'invalid Consul value ignored; last good entry kept');
    }
  }

  private onMessage(m: WorkerMessage): void {
    const { metrics, logger } = this.opts;
    switch (m.type) {
      case 'markets': {
        const t0 = performance.now();
        this.store.applyMarkets(m.upserts, m.removed);
        const applyMs = performance.now() - t0;
        if (this.reloadSeen) this.reloaded(this.reloadSeen, m.upserts, m.last && m.source === 'consul');
        this.logInvalid('markets', m.invalid);
        this.pendingMarkets[m.source] = !m.last;
        if (m.last) {
          this.markLoaded('markets', m.source);
          if (m.stats) {
            const receiptToAppliedMs = Date.now() - m.receivedAt;
            metrics.listingBytes.set({ watch: 'markets' }, m.stats.bytes);
            metrics.applySeconds.observe({ stage: 'fetch' }, m.stats.fetchMs / 1000);
            metrics.applySeconds.observe({ stage: 'parse' }, m.stats.parseMs / 1000);
            metrics.applySeconds.observe({ stage: 'diff' }, m.stats.diffMs / 1000);
            metrics.applySeconds.observe({ stage: 'apply' }, applyMs / 1000);
            this.lastChange = { ...m.stats, applyMs, receiptToAppliedMs, at: new Date().toISOString() };
          }
        }
        metrics.tableSize.set({ kind: 'markets' }, this.store.markets.size);
        return;
      }
      case 'cells':
        this.store.setCells(new Map<string, CellRecord>(m.cells));
        this.logInvalid('cells', m.invalid);
        this.markLoaded('cells', m.source);
        metrics.tableSize.set({ kind: 'cells' }, this.store.cells.size);
        return;
      case 'endpoints':
        this.store.setEndpoints(m.endpoints);
        this.markLoaded('endpoints', m.source);
        metrics.tableSize.set({ kind: 'endpoints' }, m.endpoints.length);
        return;
      case 'watch-ok': {
        const w = this.watches[m.watch];
        if (!w.ok && w.errors > 0) logger.info({ watch: m.watch }, 'consul watch recovered');
        w.ok = true;
        w.lastOkAt = Date.now();
        // an answer that changed nothing still confirms the piece is current from Consul
        if (this.loaded[m.watch] !== undefined && !this.pendingMarkets.consul) this.loaded[m.watch] = 'consul';
        return;
      }
      case 'watch-error': {
        const w = this.watches[m.watch];
        w.ok = false;
        w.errors += 1;
        w.lastError = m.message;
        metrics.watchErrors.inc({ watch: m.watch });
        if (m.attempt === 1 || m.attempt % 20 === 0) {
          logger.warn(
            { watch: m.watch, err: m.message, attempt: m.attempt, retryInMs: m.retryInMs },
            'consul watch failed; serving the last good table',
          );
        }
        return;
      }
      case 'snapshot-loaded':
        this.snapshotSavedAt = Date.parse(m.savedAt);
        this.snapshotInfo = { loadedFrom: this.opts.snapshotPath, savedAt: m.savedAt };
        logger.info(
          { path: this.opts.snapshotPath, savedAt: m.savedAt, markets: m.markets, cells: m.cells, endpoints: m.endpoints },
          'routing table loaded from snapshot',
        );
        return;
      case 'snapshot-missing':
        logger.info({ path: this.opts.snapshotPath }, 'no snapshot yet; waiting for Consul');
        return;
      case 'snapshot-error':
        metrics.snapshotWrites.inc({ result: m.op === 'write' ? 'error' : 'read_error' });
        if (m.op === 'write') this.snapshotInfo.lastWriteError = m.message;
        logger.error({ op: m.op, err: m.message }, m.op === 'read' ? 'snapshot unreadable; ignored' : 'snapshot write failed');
        return;
      case 'follower':
        this.follower = m.info;
        return;
      case 'log':
        logger[m.level](m.detail, m.msg);
        return;
      case 'snapshot-saved':
        metrics.snapshotWrites.inc({ result: 'ok' });
        this.snapshotSavedAt = Date.now();
        this.snapshotInfo.savedAt = new Date().toISOString();
        this.snapshotInfo.lastWriteError = undefined;
        return;
    }
  }

  /** Tracks a new worker's first table; once complete, removes the markets it never reported. */
  private reloaded(seen: Set<string>, upserts: readonly (readonly [string, unknown])[], complete: boolean): void {
    for (const [id] of upserts) seen.add(id);
    if (!complete) return;
    const gone: string[] = [];
    for (const id of this.store.markets.keys()) if (!seen.has(id)) gone.push(id);
    this.store.applyMarkets([], gone);
    this.reloadSeen = undefined;
    this.restarts = 0;
    this.opts.logger.info({ markets: this.store.markets.size, removed: gone.length }, 'table worker restarted; table complete again');
  }

  /** The table's status for /readyz and the metrics gauges. */
  status(): TableStatus {
    const now = Date.now();
    const oks = WATCHES.map((w) => this.watches[w].lastOkAt);
    const consulOk = WATCHES.every((w) => this.watches[w].ok);
    const oldestOk = oks.every((t) => t !== undefined) ? Math.min(...oks) : undefined;
    const since = oldestOk ?? this.snapshotSavedAt;
    const ageSeconds = since === undefined ? undefined : (now - since) / 1000;
    const source = !this.ready ? 'none' : WATCHES.every((w) => this.loaded[w] === 'consul') ? 'consul' : 'snapshot';
    const degraded = !consulOk || source !== 'consul';
    this.opts.metrics.degraded.set(degraded ? 1 : 0);
    if (ageSeconds !== undefined) this.opts.metrics.tableAge.set(ageSeconds);
    return {
      ready: this.ready,
      degraded,
      source,
      markets: this.store.markets.size,
      cells: this.store.cells.size,
      endpoints: this.store.allEndpoints.length,
      ageSeconds,
      snapshot: this.snapshotInfo,
      watches: this.watches,
      marketFollower: this.follower,
      lastMarketsChange: this.lastChange,
    };
  }

  /** Stops the watches, flushes a pending snapshot write, and ends the worker. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const w = this.worker;
    if (!w) return;
    this.worker = undefined;
    const done = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage({ type: 'stop' });
    const timer = setTimeout(() => void w.terminate(), 2000);
    await done;
    clearTimeout(timer);
  }
}
