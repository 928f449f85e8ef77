/**
 * The xDS server's view of Consul: cells/ KV and markets/ KV (market-watch.ts: sharded blocking
 * queries), decoded with the shared zod codecs, an invalid value logged and ignored while the last good one stays), the
 * passing `cellsim-cell` instances, and the passing `cellsim-xds` instances (the hold
 * endpoints). Changes are debounced briefly (a burst becomes one snapshot) and delivered
 * with the time the first change of the burst was seen.
 *
 * With an `initial` view (the last good view from disk, last-good.ts) the feed is ready at
 * once: every part Consul has not answered yet (cells, markets, instances, hold endpoints)
 * comes from that view, so a control plane started while Consul is down still serves a full
 * table. `source` says which: `snapshot` until every watch has answered, then `consul`. A
 * failing watch marks Consul unreachable until a watch answers again or a probe finds a leader.
 */
import { CellRecordSchema, decodeJson, type CellRecord, type KvLayout, type MarketRecord } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import {
  SERVICE_CELL,
  SERVICE_XDS,
  watch,
  watchKvPrefix,
  watchPassingService,
  type ConsulClient,
  type Watch,
} from '../../shared/consul.js';
import { activeEndpoints, findGlobalCell, type Endpoint, type KvEntry } from '../../shared/routing-table.js';
import { OverlayMap } from './cache/overlay-map.js';
import type { RoutingView } from './last-good.js';
import { MarketWatch } from './market-watch.js';
import { FlipFallback } from './flip-fallback.js';
import { PanicEndpoints, type PanicResult } from './panic-endpoints.js';
import type { BuildInput } from './build.js';

/** Options of {@link startConsulFeed}. */
export interface ConsulFeedOptions {
  consul: ConsulClient;
  layout: KvLayout;
  log: Logger;
  /** Debounce window after the first change of a burst, ms (default 10). */
  debounceMs?: number;
  /** Called for each debounced change. */
  onChange(input: BuildInput, firstChangeAt: number): void;
  /** Called per invalid value or endpoint (kind: `cell`, `market`, `key`). */
  onInvalid?(kind: string, key: string, problems: string[]): void;
  /** Consul blocking wait per query (default `30s`). */
  wait?: string;
  /** Most shard watches of markets/ (see market-watch.ts). */
  maxShards?: number;
  /** The last good view to serve until Consul answers (from disk). */
  initial?: RoutingView;
  /** How often an unreachable Consul is probed, ms (default 1000). */
  probeMs?: number;
  /** A cell with no passing instance keeps its last passing ones this long, ms (default 60 s; panic-endpoints.ts). */
  panicMs?: number;
  /** After a color flip the previous color stays in EDS at priority 1 this long, ms (default 10 s; flip-fallback.ts). */
  flipGraceMs?: number;
}

/** Where the served view comes from: nothing yet, the last good view on disk, or Consul. */
export type FeedSource = 'none' | 'snapshot' | 'consul';

/** A running feed. */
export interface ConsulFeed {
  /** True once every watch answered once. */
  readonly ready: boolean;
  /** The latest input (undefined before ready). */
  readonly current: BuildInput | undefined;
  /** `consul` once every watch has answered; `snapshot` while parts still come from the initial view. */
  readonly source: FeedSource;
  /** False from a failed watch until Consul answers again. */
  readonly consulReachable: boolean;
  /** The view of the latest emit, complete from Consul (undefined while any part is from the snapshot). */
  consulView(): RoutingView | undefined;
  /** The market watch's shards and full-read interval (for /xds/status). */
  marketWatch(): ReturnType<MarketWatch['info']>;
  stop(): void;
}

interface Decoded<T> {
  modifyIndex: number;
  value: T | undefined;
}

/**
 * Decodes a KV listing incrementally: entries whose ModifyIndex did not move keep their
 * decoded value (100,000 markets are not re-parsed for one move). Invalid values keep the
 * last good one and are reported once per ModifyIndex.
 */
export class IncrementalDecoder<T> {
  private known = new Map<string, Decoded<T>>();
  constructor(
    private readonly idOf: (key: string) => string | undefined,
    private readonly decode: (text: string | null) => { ok: true; value: T } | { ok: false; problems: string[] },
    private readonly report: (key: string, problems: string[]) => void,
  ) {}

  /** The records of the listing, by id. */
  apply(entries: readonly KvEntry[]): Map<string, T> {
    const next = new Map<string, Decoded<T>>();
    const out = new Map<string, T>();
    for (const e of entries) {
      if (e.key.endsWith('/')) continue;
      const id = this.idOf(e.key);
      if (id === undefined) {
        if (!this.known.has(e.key)) this.report(e.key, ['(key): not a valid id']);
        next.set(e.key, { modifyIndex: e.modifyIndex, value: undefined });
        continue;
      }
      const old = this.known.get(e.key);
      let d: Decoded<T>;
      if (old !== undefined && old.modifyIndex === e.modifyIndex) d = old;
      else {
        const r = this.decode(e.value);
        if (r.ok) d = { modifyIndex: e.modifyIndex, value: r.value };
        else {
          this.report(e.key, r.problems);
          d = { modifyIndex: e.modifyIndex, value: old?.value };
        }
      }
      next.set(e.key, d);
      if (d.value !== undefined) out.set(id, d.value);
    }
    this.known = next;
    return out;
  }
}

/** Starts the watches; `onChange` fires once all have answered, then on every debounced change. */
export function startConsulFeed(o: ConsulFeedOptions): ConsulFeed {
  const debounceMs = o.debounceMs ?? 10;
  const invalid = (kind: string) => (key: string, problems: string[]) => {
    o.log.warn({ key, problems }, `invalid ${kind} value in Consul ignored; last good value kept`);
    o.onInvalid?.(kind, key, problems);
  };
  const cellsDec = new IncrementalDecoder<CellRecord>(
    (k) => o.layout.cellFromKey(k),
    (t) => decodeJson(CellRecordSchema, t),
    invalid('cell'),
  );
  let cells: Map<string, CellRecord> | undefined;
  /** Markets changed since the last emit (the builder re-encodes only these). */
  let changedMarkets = new Set<string>();
  let firstBuild = true;
  let published: ReadonlyMap<string, MarketRecord> = new Map();
  const marketWatch = new MarketWatch({
    consul: o.consul,
    layout: o.layout,
    log: o.log,
    onChange: (ids) => {
      for (const id of ids) changedMarkets.add(id);
      changed();
    },
    onAnswer: () => {
      answeredNow();
      changed();
    },
    onInvalid: invalid('market'),
    // A shard failing alone (e.g. Consul's per-client connection limit) is covered by the full
    // read; only the full read failing says Consul is unreachable.
    onError: (what, err, attempt, retryInMs) =>
      what === 'markets'
        ? onError(what)(err, attempt, retryInMs)
        : o.log.warn({ err: err.message, attempt, retryInMs }, `consul watch of ${what} failed; the full read covers it`),
    wait: o.wait,
    maxShards: o.maxShards,
  });
  const initial = o.initial;
  if (initial !== undefined) cells = new Map(initial.cells);
  let endpoints: readonly Endpoint[] | undefined = initial?.endpoints;
  let holdEndpoints: readonly Endpoint[] | undefined = initial?.holdEndpoints;
  /** Which parts Consul has answered (the others come from `initial`). */
  const answered = { cells: false, endpoints: false, hold: false };
  let marketsFrom: FeedSource = 'none';
  /** The complete Consul view of the latest emit (undefined while any part came from `initial`). */
  let emittedConsulView: RoutingView | undefined;
  let reachable = true;
  let probe: NodeJS.Timeout | undefined;
  let firstChangeAt: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let current: BuildInput | undefined;
  let stopped = false;
  const panic = new PanicEndpoints(o.panicMs);
  const flips = new FlipFallback(o.flipGraceMs);
  let panicking = '';
  let expiryTimer: NodeJS.Timeout | undefined;
  /** Logs cells entering or leaving panic routing. */
  const notePanic = (r: PanicResult) => {
    const now = r.panicking.join(',');
    if (now !== panicking) {
      if (r.panicking.length > 0) o.log.warn({ cells: r.panicking }, 'no passing instance: publishing the last passing ones');
      else o.log.info('every cell has passing instances again');
      panicking = now;
    }
  };
  /** Emits again when the first stand-in set or flip fallback runs out. */
  const emitAt = (...expiries: (number | undefined)[]) => {
    clearTimeout(expiryTimer);
    expiryTimer = undefined;
    const next = Math.min(...expiries.filter((e): e is number => e !== undefined));
    if (Number.isFinite(next)) {
      expiryTimer = setTimeout(changed, Math.max(0, next - Date.now()) + 1);
      expiryTimer.unref();
    }
  };

  const emit = () => {
    timer = undefined;
    if (stopped || !cells || !endpoints || !holdEndpoints) return;
    if (!marketWatch.ready && initial === undefined) return;
    const at = firstChangeAt ?? performance.now();
    firstChangeAt = undefined;
    let changedSet: ReadonlySet<string> | undefined;
    if (!marketWatch.ready) {
      // Consul has not listed the markets yet: the last good view's, built in full once.
      changedSet = marketsFrom === 'snapshot' ? new Set() : undefined;
      if (marketsFrom !== 'snapshot') published = initial!.markets;
      marketsFrom = 'snapshot';
    } else {
      // First Consul listing (or first build): in full; then only the changed records.
      changedSet = firstBuild || marketsFrom !== 'consul' ? undefined : changedMarkets;
      marketsFrom = 'consul';
      // The markets as of this emit (the live watch map moves on): a copy once, then the
      // previous view plus the changed records, so readers of `current` (the hold endpoint, the
      // migration barrier) see exactly what was built and published.
      if (changedSet === undefined) published = new Map(marketWatch.records);
      else if (changedSet.size > 0) {
        const changes = new Map<string, MarketRecord | undefined>();
        for (const id of changedSet) changes.set(id, marketWatch.records.get(id));
        published = OverlayMap.of(published, changes);
      }
    }
    firstBuild = false;
    changedMarkets = new Set();
    const served = panic.apply(cells, activeEndpoints(cells, endpoints));
    notePanic(served);
    const flipped = flips.apply(cells, endpoints);
    emitAt(served.nextExpiry, flipped.nextExpiry);
    current = {
      cells,
      markets: published,
      changedMarkets: changedSet,
      endpoints: served.endpoints,
      fallbackEndpoints: flipped.fallback,
      globalCell: findGlobalCell(cells),
      holdEndpoints,
    };
    emittedConsulView =
      marketsFrom === 'consul' && answered.cells && answered.endpoints && answered.hold
        ? { cells, markets: published, endpoints, holdEndpoints }
        : undefined;
    o.onChange(current, at);
  };
  const changed = () => {
    firstChangeAt ??= performance.now();
    if (timer === undefined) timer = setTimeout(emit, debounceMs);
  };
  const onError = (what: string) => (err: Error, attempt: number, retryInMs: number) => {
    o.log.warn({ err: err.message, attempt, retryInMs }, `consul watch of ${what} failed; serving the last good state`);
    unreachable();
  };
  const answeredNow = () => {
    reachable = true;
    if (probe) clearTimeout(probe);
    probe = undefined;
  };
  // A watch that failed answers again only when its index moves (up to its 30 s wait), so an
  // unreachable Consul is probed for a leader to tell when it is back.
  const unreachable = () => {
    reachable = false;
    if (probe !== undefined || stopped) return;
    const tick = () => {
      probe = setTimeout(() => {
        o.consul.status.leader({ timeoutMs: 1000 }).then(
          (leader) => (leader !== '' ? answeredNow() : tick()),
          () => tick(),
        );
      }, o.probeMs ?? 1000);
      probe.unref();
    };
    tick();
  };
  const opts = { wait: o.wait ?? '30s' };

  marketWatch.start();
  const watches: Watch[] = [
    watchKvPrefix(
      o.consul,
      o.layout.cellsPrefix,
      {
        onChange: ({ value }) => {
          cells = cellsDec.apply(value);
          answered.cells = true;
          answeredNow();
          changed();
        },
        onError: onError('cells'),
      },
      opts,
    ),
    watchPassingService(
      o.consul,
      SERVICE_CELL,
      {
        onChange: ({ value }) => {
          endpoints = value;
          answered.endpoints = true;
          answeredNow();
          changed();
        },
        onError: onError(SERVICE_CELL),
      },
      opts,
    ),
    watchControlPlanes(
      o.consul,
      {
        onChange: ({ value }) => {
          holdEndpoints = value;
          answered.hold = true;
          answeredNow();
          changed();
        },
        onError: onError(SERVICE_XDS),
      },
      opts,
    ),
  ];

  const source = (): FeedSource => (current === undefined ? 'none' : emittedConsulView !== undefined ? 'consul' : 'snapshot');
  if (initial !== undefined) changed();

  return {
    get ready() {
      return current !== undefined;
    },
    get current() {
      return current;
    },
    get source() {
      return source();
    },
    get consulReachable() {
      return reachable;
    },
    consulView: () => emittedConsulView,
    marketWatch: () => marketWatch.info(),
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (probe) clearTimeout(probe);
      clearTimeout(expiryTimer);
      for (const w of watches) w.stop();
      marketWatch.stop();
    },
  };
}

/** Watches the passing `cellsim-xds` instances (control planes), as hold endpoints (their HTTP port). */
function watchControlPlanes(consul: ConsulClient, handlers: Parameters<typeof watchPassingService>[2], opts: { wait: string }): Watch {
  return watch<Endpoint[]>(
    async (index, wait, signal) => {
      const res = await consul.health.service(SERVICE_XDS, { passing: true, index, wait, signal });
      const eps = res.value.map((e): Endpoint => ({
        id: e.Service.ID,
        cell: 'hold',
        address: e.Service.Address || e.Node.Address,
        port: e.Service.Port,
        version: e.Service.Meta?.version ?? 'unknown',
        color: 'blue',
      }));
      return { index: res.index, value: eps };
    },
    handlers,
    opts,
  );
}
