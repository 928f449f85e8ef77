/**
 * Turns routing input into per-node snapshots: shared resources (clusters, endpoints, routes,
 * scopes) built once per change, plus each node's own listener (its listen address comes
 * from the node metadata `cellsim.listen_address` / `cellsim.listen_port`). Every snapshot
 * passes the consistency check before it is published; a refused one leaves the node on its
 * last good snapshot. A test-only injection adds a resource Envoy rejects (to prove NACK
 * handling) and is the only way a non-validated resource reaches the cache.
 */
import type { Logger } from '../../shared/logger.js';
import { InconsistentSnapshotError, type SnapshotCache } from './cache/snapshot-cache.js';
import { Snapshot } from './cache/snapshot.js';
import type { XdsMetrics } from './metrics.js';
import { ResourceBuilder, type BuildInput, type BuildOptions, type SharedResources } from './build.js';
import { edgeListener, listenProblems, type ListenAddress } from './resources/listener.js';
import { encodeAny } from './resources/proto.js';
import { fromAny, type Resource } from './resources/resource.js';
import { FROZEN_ROUTE, marketScopeName } from './resources/names.js';
import { CLUSTER, LISTENER, SCOPED_ROUTE, SECRET, SHORT_NAME, type TypeUrl } from './resources/type-urls.js';
import type { NodeInfo } from './server/messages.js';

/** Node metadata keys written by `cellctl envoy`. */
export const META_LISTEN_ADDRESS = 'cellsim.listen_address';
export const META_LISTEN_PORT = 'cellsim.listen_port';

/** The name of the test-only resource Envoy rejects. */
export const INVALID_TEST_CLUSTER = 'cellsim-test-invalid';

/** The listen address of a node from its metadata, or undefined (with the problems logged by the caller). */
export function listenOf(node: NodeInfo): { listen?: ListenAddress; problems: string[] } {
  const address = node.metadata[META_LISTEN_ADDRESS];
  const port = Number(node.metadata[META_LISTEN_PORT]);
  if (typeof address !== 'string') return { problems: [`node metadata has no ${META_LISTEN_ADDRESS}`] };
  const listen = { address, port };
  const problems = listenProblems(listen);
  return problems.length ? { problems } : { listen, problems };
}

/** Publishes snapshots for every known node. */
export class Publisher {
  private readonly builder: ResourceBuilder;
  private shared: SharedResources | undefined;
  private changedAt = 0;
  private readonly nodes = new Map<string, { info: NodeInfo; listener?: Resource }>();
  private readonly injected = new Set<string>();
  private secrets: ReadonlyMap<string, Resource> | undefined;
  /** Edge listeners serve HTTPS with the SDS certificate (`--edge-tls`); set before nodes connect. */
  edgeTls = false;
  /** Nodes whose snapshot exists. */
  published = 0;

  constructor(
    private readonly cache: SnapshotCache,
    private readonly metrics: XdsMetrics,
    private readonly log: Logger,
    opts: Partial<BuildOptions> = {},
  ) {
    this.builder = new ResourceBuilder(opts);
  }

  /**
   * Where the last published build sends `market`: `frozen`, `routed`, or `absent` (no scope;
   * unknown market). Unlike the live Consul view, this is what Envoys are being given.
   */
  publishedMarket(market: string): 'frozen' | 'routed' | 'absent' {
    const scope = this.shared?.types.get(SCOPED_ROUTE)?.get(marketScopeName(market));
    if (scope === undefined) return 'absent';
    return scope.refs[0]?.name === FROZEN_ROUTE ? 'frozen' : 'routed';
  }

  /** True once a first input was built. */
  get hasInput(): boolean {
    return this.shared !== undefined;
  }

  /** Rebuilds from `input` and publishes to every known node. */
  update(input: BuildInput, changedAt: number): void {
    const t0 = performance.now();
    this.shared = this.builder.build(input);
    this.changedAt = changedAt;
    for (const d of this.shared.dropped) {
      this.metrics.invalidInputs.inc({ kind: 'endpoint' });
      this.log.warn({ endpoint: d.id, problem: d.problem }, 'endpoint left out of EDS');
    }
    for (const id of this.nodes.keys()) this.publishNode(id);
    this.metrics.buildSeconds.observe((performance.now() - t0) / 1000);
  }

  /** A stream named its node: remember it and give it a snapshot now (if there is input). */
  addNode(info: NodeInfo): void {
    const known = this.nodes.get(info.id);
    if (known && JSON.stringify(known.info.metadata) === JSON.stringify(info.metadata)) return;
    const { listen, problems } = listenOf(info);
    if (problems.length) this.log.warn({ node: info.id, problems }, 'node has no usable listen address; it gets no listener');
    this.nodes.set(info.id, { info, listener: listen ? edgeListener(listen, this.edgeTls) : undefined });
    if (this.shared) this.publishNode(info.id);
  }

  /** Test hook: from now on `node` (or every node) also gets a cluster Envoy rejects. */
  injectInvalid(node = '*'): void {
    this.injected.add(node);
    this.republish();
  }

  /** Serves `secrets` (SDS) to every node from now on, and pushes them (secrets.ts). */
  setSecrets(secrets: ReadonlyMap<string, Resource>): void {
    this.secrets = secrets;
    this.republish();
  }

  /** Test hook: stop injecting. */
  clearInjected(): void {
    this.injected.clear();
    this.republish();
  }

  private republish(): void {
    this.changedAt = performance.now();
    for (const id of this.nodes.keys()) this.publishNode(id);
  }

  private publishNode(id: string): void {
    const shared = this.shared;
    const node = this.nodes.get(id);
    if (!shared || !node) return;
    const types = new Map<TypeUrl, ReadonlyMap<string, Resource>>(shared.types);
    types.set(LISTENER, node.listener ? new Map([[node.listener.name, node.listener]]) : new Map());
    if (this.secrets) types.set(SECRET, this.secrets);
    const inject = this.injected.has('*') || this.injected.has(id);
    if (inject) {
      // Passes our encoder but breaks Envoy's validation rule connect_timeout > 0: a guaranteed NACK.
      const bad = fromAny(
        CLUSTER,
        INVALID_TEST_CLUSTER,
        encodeAny('envoy.config.cluster.v3.Cluster', { name: INVALID_TEST_CLUSTER, type: 'STATIC', connect_timeout: { seconds: -1 } }),
      );
      const clusters = new Map(types.get(CLUSTER));
      clusters.set(bad.name, bad);
      types.set(CLUSTER, clusters);
    }
    const snap = new Snapshot(types, this.changedAt);
    try {
      const before = this.cache.getSnapshot(id)?.version;
      this.cache.setSnapshot(id, snap);
      this.published += 1;
      const changed = before !== snap.version;
      this.metrics.publishes.inc({ result: changed ? 'published' : 'unchanged' });
      if (changed) {
        for (const [t, s] of snap.types) {
          this.metrics.snapshotBytes.set({ type: SHORT_NAME[t] }, s.bytes);
          this.metrics.snapshotResources.set({ type: SHORT_NAME[t] }, s.items.size);
        }
        this.log.debug({ node: id, version: snap.version }, 'snapshot published');
      }
    } catch (err) {
      if (!(err instanceof InconsistentSnapshotError)) throw err;
      this.metrics.publishes.inc({ result: 'refused' });
      this.log.error(
        { node: id, problems: err.problems.slice(0, 10) },
        'snapshot refused by the consistency check; node keeps its last snapshot',
      );
    }
  }
}
