/**
 * The xDS subsystem of the control plane, wired in one place: Consul feed → publisher
 * (resources + per-node snapshots) → snapshot cache → ADS server (SotW and delta), with the
 * status store and metrics they share.
 */
import type { Registry } from 'prom-client';
import type { ConsulClient } from '../../shared/consul.js';
import type { KvLayout } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import { SnapshotCache } from './cache/snapshot-cache.js';
import { StatusStore, type NodeStatus } from './cache/status.js';
import { startConsulFeed, type ConsulFeed } from './consul-feed.js';
import { XdsMetrics } from './metrics.js';
import { Publisher } from './publisher.js';
import type { BuildInput } from './resources/build.js';
import { DEFAULT_CLUSTER_OPTIONS, type ClusterOptions } from './resources/cluster.js';
import { ROUTE, SCOPED_ROUTE } from './resources/type-urls.js';
import { startAdsServer, type AdsServer } from './server/ads.js';

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
}

/** The running xDS subsystem. */
export interface Xds {
  port: number;
  readonly ready: boolean;
  status(): { id: string; ready: boolean; consul: Record<string, unknown>; snapshots: Record<string, unknown>; nodes: NodeStatus[] };
  /** The latest Consul input (undefined before ready). */
  current(): BuildInput | undefined;
  /** Where the last published snapshot sends `market` (what the hold endpoint waits on). */
  publishedMarket(market: string): 'frozen' | 'routed' | 'absent';
  /** True when every node connected here holds the current routes (RDS and SRDS ACKed). */
  nodesInSync(): boolean;
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
  );
  const feed: ConsulFeed = startConsulFeed({
    consul: o.consul,
    layout: o.layout,
    log,
    debounceMs: o.debounceMs,
    onChange: (input, at) => publisher.update(input, at),
    onInvalid: (kind) => metrics.invalidInputs.inc({ kind }),
  });
  log.info({ port: ads.port }, 'xds server listening');

  return {
    port: ads.port,
    get ready() {
      return feed.ready;
    },
    current: () => feed.current,
    publishedMarket: (market) => publisher.publishedMarket(market),
    status() {
      const snapshots: Record<string, unknown> = {};
      for (const n of cache.nodes()) {
        const s = cache.getSnapshot(n);
        if (s) snapshots[n] = s.summary();
      }
      return { id: o.id, ready: feed.ready, consul: { marketWatch: feed.marketWatch() }, snapshots, nodes: status.list() };
    },
    nodesInSync() {
      for (const n of status.list()) {
        if (!n.connected) continue;
        const snap = cache.getSnapshot(n.id);
        if (!snap) return false;
        for (const [t, key] of [
          [ROUTE, 'rds'],
          [SCOPED_ROUTE, 'srds'],
        ] as const) {
          const ts = n.types[key];
          if (ts && ts.lastAckedVersion !== snap.type(t).version) return false;
        }
      }
      return true;
    },
    injectInvalid: (node) => publisher.injectInvalid(node),
    clearInjected: () => publisher.clearInjected(),
    async stop() {
      feed.stop();
      await ads.stop();
    },
  };
}
