/**
 * The xDS subsystem of the control plane, wired in one place: Consul feed → publisher
 * (resources + per-node snapshots) → snapshot cache → ADS server (SotW and delta), with the
 * status store and metrics they share. With a data directory, the last good routing view is
 * kept on disk (last-good.ts) and served at start until Consul answers.
 */
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { ConsulClient } from '../../shared/consul.js';
import type { KvLayout } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import { SnapshotCache } from './cache/snapshot-cache.js';
import { nodesBehind, StatusStore, type NodeStatus } from './cache/status.js';
import { startConsulFeed, type ConsulFeed, type FeedSource } from './consul-feed.js';
import { LastGoodWriter, readLastGood, type LoadedView } from './last-good.js';
import { XdsMetrics } from './metrics.js';
import { Publisher } from './publisher.js';
import type { BuildInput } from './build.js';
import { DEFAULT_CLUSTER_OPTIONS, type ClusterOptions } from './resources/cluster.js';
import { ROUTE, SCOPED_ROUTE } from './resources/type-urls.js';
import { startAdsServer, type AdsServer } from './server/ads.js';
import type { TlsMaterial } from '../../shared/pki/identity.js';
import type { TlsSource } from '../../shared/pki/reload.js';
import type { TlsFiles } from '../../shared/pki/names.js';
import { SecretSource } from './secrets.js';

/** Options of {@link startXds}. */
export interface XdsOptions {
  consul: ConsulClient;
  layout: KvLayout;
  log: Logger;
  registry: Registry;
  /** Control-plane identifier sent in every response (e.g. `cp-1`). */
  id: string;
  host: string;
  port: number;
  /** Hold bound for frozen markets, ms (0 = 503 market_migrating at once). */
  holdMs: number;
  debounceMs?: number;
  cluster?: Partial<ClusterOptions>;
  maxDeltaResources?: number;
  /** Data directory: the last good view is kept in `<dataDir>/xds/last-good.json`. */
  dataDir?: string;
  /** A cell with no passing instance keeps its last passing ones this long, ms (consul-feed.ts; default 60 s). */
  panicMs?: number;
  /** After a color flip the previous color stays in EDS at priority 1 this long, ms (flip-fallback.ts; default 10 s). */
  flipGraceMs?: number;
  /** Serve Envoy's upstream certificate and the CA by SDS from these files, watched for rotation (secrets.ts). */
  secrets?: TlsFiles;
  /** Edge listeners serve HTTPS with the SDS certificate (needs `secrets`). */
  edgeTls?: boolean;
  /** Serve xDS over TLS, requiring a client certificate of the CA (server/ads.ts); watched files are taken on rotation. */
  tls?: TlsMaterial | TlsSource;
}

/** Where the served view comes from and whether it is live (for /readyz, /xds/status, metrics). */
export interface XdsHealth {
  ready: boolean;
  /** `snapshot`: (parts of) the view are the last good view from disk; `consul`: all from Consul. */
  source: FeedSource;
  consulReachable: boolean;
  /** True while the view is not a live Consul view. */
  degraded: boolean;
  /** The last good view file, when a data directory is set. */
  lastGood?: { path: string; loadedSavedAt?: string; savedAt?: string };
}

/** The file of the last good view under a data directory. */
export function lastGoodPath(dataDir: string): string {
  return join(dataDir, 'xds', 'last-good.json');
}

/** The running xDS subsystem. */
export interface Xds {
  port: number;
  readonly ready: boolean;
  health(): XdsHealth;
  status(): {
    id: string;
    ready: boolean;
    health: XdsHealth;
    consul: Record<string, unknown>;
    snapshots: Record<string, unknown>;
    nodes: NodeStatus[];
  };
  /** The latest Consul input (undefined before ready). */
  current(): BuildInput | undefined;
  /** Where the last published snapshot sends `market` (what the hold endpoint waits on). */
  publishedMarket(market: string): 'frozen' | 'routed' | 'absent';
  /** True when every node connected here holds the current routes (RDS and SRDS ACKed). */
  nodesInSync(): boolean;
  /**
   * The nodes that may not hold the current routes, each with why: connected and behind (RDS or
   * SRDS not ACKed), or disconnected less than `endedWithinMs` ago (cut off, such a node may still
   * route on what it had; docs/operators.md §Waiting for the data planes).
   */
  nodesBehind(endedWithinMs: number): string[];
  /** Test-only: publish a resource Envoy rejects to `node` (or every node); clear it. */
  injectInvalid(node?: string): void;
  clearInjected(): void;
  stop(): Promise<void>;
}

/** Starts the ADS server and the Consul feed. */
export async function startXds(o: XdsOptions): Promise<Xds> {
  const cache = new SnapshotCache();
  const status = new StatusStore();
  const metrics = new XdsMetrics(o.registry);
  const log = o.log.child({ subsystem: 'xds' });
  const publisher = new Publisher(cache, metrics, log, { holdMs: o.holdMs, cluster: { ...DEFAULT_CLUSTER_OPTIONS, ...o.cluster } });
  publisher.edgeTls = o.edgeTls === true && o.secrets !== undefined;
  const secretSource = o.secrets ? new SecretSource(o.secrets, log, (s) => publisher.setSecrets(s)) : undefined;
  if (secretSource) publisher.setSecrets(secretSource.start());
  const path = o.dataDir === undefined ? undefined : lastGoodPath(o.dataDir);
  let loaded: LoadedView | undefined;
  if (path !== undefined) {
    try {
      loaded = await readLastGood(path);
      if (loaded)
        log.info({ path, savedAt: loaded.savedAt, markets: loaded.markets.size, cells: loaded.cells.size }, 'last good view loaded');
    } catch (err) {
      log.error({ err: (err as Error).message, path }, 'last good view unreadable; ignored (waiting for Consul)');
    }
  }
  const writer =
    path === undefined
      ? undefined
      : new LastGoodWriter(path, log, (r) => {
          metrics.lastGoodWrites.inc({ result: r.ok ? 'ok' : 'failed' });
          if (r.ok) metrics.lastGoodBytes.set(r.bytes);
        });
  const ads: AdsServer = await startAdsServer(
    {
      cache,
      status,
      metrics,
      log,
      identifier: o.id,
      onNode: (node) => publisher.addNode(node),
      maxDeltaResources: o.maxDeltaResources ?? 20_000,
    },
    o.host,
    o.port,
    o.tls,
  );
  // The feed's callbacks run from timers and watches, never during this call: `feed` is set by then.
  const feed: ConsulFeed = startConsulFeed({
    consul: o.consul,
    layout: o.layout,
    log,
    debounceMs: o.debounceMs,
    panicMs: o.panicMs,
    flipGraceMs: o.flipGraceMs,
    onChange: (input, at) => {
      publisher.update(input, at);
      const view = feed.consulView();
      if (view !== undefined) writer?.save(view);
      health();
    },
    onInvalid: (kind) => metrics.invalidInputs.inc({ kind }),
    initial: loaded,
  });
  log.info({ port: ads.port, source: feed.source }, 'xds server listening');

  let lastSource: FeedSource = 'none';
  const health = (): XdsHealth => {
    const source = feed.source;
    const degraded = source !== 'consul' || !feed.consulReachable;
    metrics.setHealth(source, degraded);
    if (source !== lastSource) {
      log.info({ from: lastSource, to: source, consulReachable: feed.consulReachable }, 'routing view source changed');
      lastSource = source;
    }
    return {
      ready: feed.ready,
      source,
      consulReachable: feed.consulReachable,
      degraded,
      lastGood: path === undefined ? undefined : { path, loadedSavedAt: loaded?.savedAt, savedAt: writer?.savedAt },
    };
  };
  /** The nodes that may not hold the current routes (`nodesBehind` of cache/status.ts over this server's snapshots). */
  const behind = (endedWithinMs: number) =>
    nodesBehind(status.list(), (id, key) => cache.getSnapshot(id)?.type(key === 'rds' ? ROUTE : SCOPED_ROUTE).version, endedWithinMs);

  return {
    port: ads.port,
    get ready() {
      return feed.ready;
    },
    health,
    current: () => feed.current,
    publishedMarket: (market) => publisher.publishedMarket(market),
    status() {
      const snapshots: Record<string, unknown> = {};
      for (const n of cache.nodes()) {
        const s = cache.getSnapshot(n);
        if (s) snapshots[n] = s.summary();
      }
      return {
        id: o.id,
        ready: feed.ready,
        health: health(),
        consul: { marketFollower: feed.marketFollower() },
        snapshots,
        nodes: status.list(),
      };
    },
    // In sync: no connected node behind (a disconnected one is not counted: a window of 0 ms).
    nodesInSync: () => behind(0).length === 0,
    nodesBehind: behind,
    injectInvalid: (node) => publisher.injectInvalid(node),
    clearInjected: () => publisher.clearInjected(),
    async stop() {
      feed.stop();
      await writer?.flush();
      await ads.stop();
    },
  };
}
