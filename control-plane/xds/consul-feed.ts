/**
 * The xDS server's view of Consul: cells/ KV, markets/ (through the shared market follower,
 * shared/markets/follower.ts), the passing `cellsim-cell` instances, and the passing
 * `cellsim-xds` instances (the hold endpoints). Values are decoded with the shared zod codecs; an
 * invalid value is logged and ignored while the last good one stays. Changes are debounced briefly
 * (a burst becomes one snapshot) and delivered with the time the first change of the burst was
 * seen; feed-view.ts assembles each emit.
 *
 * With an `initial` view (the last good view from disk, last-good.ts) the feed is ready at
 * once: every part Consul has not answered yet comes from that view. `source` says which:
 * `snapshot` until every watch has answered, then `consul`. A failing watch marks Consul
 * unreachable until a watch answers again or a probe finds a leader (consul-probe.ts).
 */
import { CellRecordSchema, decodeJson, type CellRecord, type KvLayout } from '../../shared/kv.js';
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
import { MarketFollower, type FollowerInfo } from '../../shared/markets/follower.js';
import type { Endpoint } from '../../shared/routing-table.js';
import type { BuildInput } from './build.js';
import { ConsulProbe } from './consul-probe.js';
import { FeedView, type FeedSource } from './feed-view.js';
import { IncrementalDecoder } from './kv-decoder.js';
import type { RoutingView } from './last-good.js';

export type { FeedSource } from './feed-view.js';

/** Options of {@link startConsulFeed}. */
export interface ConsulFeedOptions {
  consul: ConsulClient;
  layout: KvLayout;
  log: Logger;
  /** Debounce window after the first change of a burst, ms (default 10); moved markets skip it. */
  debounceMs?: number;
  /** Called for each debounced change. */
  onChange(input: BuildInput, firstChangeAt: number): void;
  /** Called per invalid value or endpoint (kind: `cell`, `market`, `key`). */
  onInvalid?(kind: string, key: string, problems: string[]): void;
  /** Consul blocking wait per query (default `30s`). */
  wait?: string;
  /** The last good view to serve until Consul answers (from disk). */
  initial?: RoutingView;
  /** How often an unreachable Consul is probed, ms (default 1000). */
  probeMs?: number;
  /** A cell with no passing instance keeps its last passing ones this long, ms (default 60 s; panic-endpoints.ts). */
  panicMs?: number;
  /** After a color flip the previous color stays in EDS at priority 1 this long, ms (default 10 s; flip-fallback.ts). */
  flipGraceMs?: number;
}

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
  /** The market follower's counters (for /xds/status). */
  marketFollower(): FollowerInfo;
  stop(): void;
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
  const view = new FeedView({ log: o.log, initial: o.initial, panicMs: o.panicMs, flipGraceMs: o.flipGraceMs });
  const probe = new ConsulProbe(o.consul, o.probeMs);
  let current: BuildInput | undefined;
  let consulView: RoutingView | undefined;
  let firstChangeAt: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let expiryTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  const follower = new MarketFollower({
    consul: o.consul,
    layout: o.layout,
    wait: o.wait,
    onDiff: (d, step) => {
      for (const i of d.invalid) invalid('market')(i.key, i.problems);
      view.marketsChanged(d.upserts.map(([id]) => id));
      view.marketsChanged(d.removed);
      // moved markets are published at once: the follower hands them over in batches already (one
      // read of the change log, or one listing); the other watches wait out the debounce
      if (d.upserts.length > 0 || d.removed.length > 0) changed(true);
      else if (step.via === 'listing') changed();
    },
    onOk: () => probe.answered(),
    onError: (what, err, attempt, retryInMs) => onError(`markets (${what})`)(err, attempt, retryInMs),
  });
  const markets = {
    get ready() {
      return follower.ready;
    },
    get: (id: string) => follower.records.get(id),
    entries: () => follower.records.records().map(([id, rec]) => [id, rec] as const),
  };

  const emit = () => {
    clearTimeout(timer);
    clearImmediate(immediate);
    timer = undefined;
    immediate = undefined;
    if (stopped) return;
    const at = firstChangeAt ?? performance.now();
    const built = view.assemble(markets);
    if (built === undefined) return;
    firstChangeAt = undefined;
    current = built.input;
    consulView = built.consulView;
    clearTimeout(expiryTimer);
    expiryTimer = undefined;
    if (built.nextExpiry !== undefined) {
      expiryTimer = setTimeout(changed, Math.max(0, built.nextExpiry - Date.now()) + 1);
      expiryTimer.unref();
    }
    o.onChange(current, at);
  };
  function changed(now = false) {
    firstChangeAt ??= performance.now();
    if (now) immediate ??= setImmediate(emit);
    else if (timer === undefined && immediate === undefined) timer = setTimeout(emit, debounceMs);
  }
  const onError = (what: string) => (err: Error, attempt: number, retryInMs: number) => {
    o.log.warn({ err: err.message, attempt, retryInMs }, `consul watch of ${what} failed; serving the last good state`);
    probe.failed();
  };
  /** A part answered from Consul. */
  const answered = (part: keyof FeedView['answered']) => {
    view.answered[part] = true;
    probe.answered();
    changed();
  };
  const opts = { wait: o.wait ?? '30s' };

  follower.start();
  const watches: Watch[] = [
    watchKvPrefix(
      o.consul,
      o.layout.cellsPrefix,
      {
        onChange: ({ value }) => {
          view.cells = cellsDec.apply(value);
          answered('cells');
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
          view.endpoints = value;
          answered('endpoints');
        },
        onError: onError(SERVICE_CELL),
      },
      opts,
    ),
    watchControlPlanes(
      o.consul,
      {
        onChange: ({ value }) => {
          view.holdEndpoints = value;
          answered('hold');
        },
        onError: onError(SERVICE_XDS),
      },
      opts,
    ),
  ];

  if (o.initial !== undefined) changed();

  return {
    get ready() {
      return current !== undefined;
    },
    get current() {
      return current;
    },
    get source(): FeedSource {
      return current === undefined ? 'none' : consulView !== undefined ? 'consul' : 'snapshot';
    },
    get consulReachable() {
      return probe.reachable;
    },
    consulView: () => consulView,
    marketFollower: () => follower.info(),
    stop() {
      stopped = true;
      clearTimeout(timer);
      clearImmediate(immediate);
      clearTimeout(expiryTimer);
      probe.stop();
      for (const w of watches) w.stop();
      follower.stop();
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
