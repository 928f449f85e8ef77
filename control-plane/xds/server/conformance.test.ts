/**
 * Protocol conformance of the ADS server with a scripted client (go-control-plane's mock
 * stream, over a real gRPC connection): nonces rise, versions are set, type URLs match,
 * stale nonces are ignored, a NACK is parked (never resent in a loop) until the snapshot
 * changes, send order on a multi-type change, and delta subscribe/unsubscribe/removal.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { createLogger } from '../../../shared/logger.js';
import { SnapshotCache } from '../cache/snapshot-cache.js';
import { Snapshot } from '../cache/snapshot.js';
import { StatusStore } from '../cache/status.js';
import { XdsMetrics } from '../metrics.js';
import { cellCluster } from '../resources/cluster.js';
import { cellLoadAssignment } from '../resources/endpoint.js';
import { edgeListener } from '../resources/listener.js';
import { decodeAny } from '../resources/proto.js';
import type { Resource } from '../resources/resource.js';
import { cellRoutes, frozenRoutes } from '../resources/route.js';
import { marketScope } from '../resources/scoped-route.js';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, SCOPED_ROUTE, type TypeUrl } from '../resources/type-urls.js';
import { adsClientConstructor, startAdsServer, type AdsServer } from './ads.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from './messages.js';

const NODE = { id: 'node-1', cluster: 'test' };

function snapshotOf(cells: string[], markets: Record<string, string>): Snapshot {
  const m = <T extends Resource>(rs: T[]) => new Map(rs.map((r) => [r.name, r]));
  return new Snapshot(
    new Map<TypeUrl, Map<string, Resource>>([
      [CLUSTER, m(cells.map((c) => cellCluster(c)))],
      [
        ENDPOINT,
        m(
          cells.map((c) =>
            cellLoadAssignment(c, [{ id: `${c}-1`, cell: c, address: '127.0.0.1', port: 9000, version: 'v1', color: 'blue' }]),
          ),
        ),
      ],
      [LISTENER, m([edgeListener({ address: '127.0.0.1', port: 10000 })])],
      [ROUTE, m([...cells.map((c) => cellRoutes(c, 'active')), frozenRoutes(0)])],
      [SCOPED_ROUTE, m(Object.entries(markets).map(([mk, c]) => marketScope(mk, `cell:${c}`)))],
    ]),
  );
}

/** A scripted bidi stream: write requests, await responses one at a time. */
class Script<Req, Res> {
  private readonly queue: Res[] = [];
  private waiter: ((r: Res) => void) | undefined;
  constructor(readonly call: grpc.ClientDuplexStream<Req, Res>) {
    call.on('data', (r: Res) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(r);
      } else this.queue.push(r);
    });
    call.on('error', () => undefined);
  }
  send(req: Req): void {
    this.call.write(req);
  }
  next(timeoutMs = 3000): Promise<Res> {
    const q = this.queue.shift();
    if (q !== undefined) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
      this.waiter = (r) => {
        clearTimeout(t);
        resolve(r);
      };
    });
  }
  async none(ms = 300): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    assert.equal(
      this.queue.length,
      0,
      `expected no response, got ${JSON.stringify(this.queue.map((q) => (q as { type_url?: string }).type_url))}`,
    );
  }
  close(): void {
    this.call.end();
    this.call.cancel();
  }
}

const nonceNum = (n: string) => Number(n.split('-')[1]);

describe('ADS conformance (scripted client)', () => {
  let server: AdsServer;
  let cache: SnapshotCache;
  let status: StatusStore;
  let client: grpc.Client & { StreamAggregatedResources(): unknown; DeltaAggregatedResources(): unknown };

  before(async () => {
    cache = new SnapshotCache();
    status = new StatusStore();
    const log = createLogger('test');
    log.level = 'silent';
    server = await startAdsServer(
      { cache, status, metrics: new XdsMetrics(new Registry()), log, identifier: 'cp-test', onNode: () => undefined, maxDeltaResources: 2 },
      '127.0.0.1',
      0,
    );
    const Ctor = adsClientConstructor();
    client = new Ctor(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure()) as unknown as typeof client;
  });
  after(async () => {
    client.close();
    await server.stop();
  });

  it('SotW: versions and type URLs set, nonces rise, stale nonces ignored, NACK parked until the snapshot changes', async () => {
    cache.setSnapshot(NODE.id, snapshotOf(['a', 'b'], { m1: 'a' }));
    const s = new Script<DiscoveryRequest, DiscoveryResponse>(
      client.StreamAggregatedResources() as grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>,
    );
    try {
      s.send({ node: NODE, type_url: CLUSTER });
      const r1 = await s.next();
      assert.equal(r1.type_url, CLUSTER);
      assert.equal(r1.version_info, cache.getSnapshot(NODE.id)!.type(CLUSTER).version);
      assert.equal(r1.resources?.length ?? 0, 2);
      assert.ok(r1.resources.every((r) => r.type_url === CLUSTER));
      assert.deepEqual(r1.resources.map((r) => decodeAny(r).name).sort(), ['cell:a', 'cell:b']);

      s.send({ type_url: CLUSTER, version_info: r1.version_info, response_nonce: r1.nonce }); // ACK
      s.send({ type_url: ENDPOINT, resource_names: ['cell:a'] });
      const r2 = await s.next();
      assert.equal(r2.type_url, ENDPOINT);
      assert.ok(nonceNum(r2.nonce) > nonceNum(r1.nonce), 'nonces rise');
      assert.deepEqual(
        r2.resources.map((r) => decodeAny(r).cluster_name),
        ['cell:a'],
        'only the named resources',
      );
      s.send({ type_url: ENDPOINT, resource_names: ['cell:a'], version_info: r2.version_info, response_nonce: r2.nonce });
      await s.none(150);

      // A change: a new version arrives. A NACK of it parks it: no resend while the snapshot stays.
      cache.setSnapshot(NODE.id, snapshotOf(['a', 'b', 'c'], { m1: 'a' }));
      const r3 = await s.next();
      assert.equal(r3.type_url, CLUSTER);
      assert.notEqual(r3.version_info, r1.version_info);
      const r3e = await s.next();
      assert.equal(r3e.type_url, ENDPOINT);
      // A stale nonce (r1's) is ignored: it neither ACKs nor NACKs r3.
      s.send({ type_url: CLUSTER, version_info: r1.version_info, response_nonce: r1.nonce, error_detail: { code: 3, message: 'stale' } });
      assert.equal(status.list()[0]!.types.cds!.nacks, 0, 'stale NACK ignored');
      s.send({
        type_url: CLUSTER,
        version_info: r1.version_info,
        response_nonce: r3.nonce,
        error_detail: { code: 3, message: 'bad cluster' },
      });
      await s.none(400);
      const st = status.list().find((n) => n.id === NODE.id)!.types.cds!;
      assert.equal(st.nacks, 1);
      assert.equal(st.lastNack?.version, r3.version_info);
      assert.match(st.lastNack?.error ?? '', /bad cluster/);
      assert.equal(st.lastAckedVersion, r1.version_info, 'the last ACKed version is kept');
      assert.equal(st.parked, true);

      // The snapshot changes: the new version is sent (and un-parks).
      cache.setSnapshot(NODE.id, snapshotOf(['a', 'b', 'd'], { m1: 'a' }));
      const r4 = await s.next();
      assert.equal(r4.type_url, CLUSTER);
      assert.ok(nonceNum(r4.nonce) > nonceNum(r3.nonce));
      assert.notEqual(r4.version_info, r3.version_info);
      s.send({ type_url: CLUSTER, version_info: r4.version_info, response_nonce: r4.nonce });
      // EDS still had r3e in flight: the new EDS version waits for its ACK, then follows.
      await s.none(150);
      s.send({ type_url: ENDPOINT, resource_names: ['cell:a'], version_info: r3e.version_info, response_nonce: r3e.nonce });
      const r5 = await s.next();
      assert.equal(r5.type_url, ENDPOINT);
      assert.ok(nonceNum(r5.nonce) > nonceNum(r4.nonce));
    } finally {
      s.close();
    }
  });

  it('SotW: a change of several types is sent in CDS → EDS → LDS → RDS → SRDS order', async () => {
    const node = { id: 'node-order', cluster: 'test' };
    cache.setSnapshot(node.id, snapshotOf(['a'], { m1: 'a' }));
    const s = new Script<DiscoveryRequest, DiscoveryResponse>(
      client.StreamAggregatedResources() as grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>,
    );
    try {
      const held = new Map<string, DiscoveryResponse>();
      // Subscribe in reverse order; ACK everything.
      for (const t of [SCOPED_ROUTE, ROUTE, LISTENER, ENDPOINT, CLUSTER]) {
        s.send({
          node,
          type_url: t,
          resource_names: t === ENDPOINT ? ['cell:a', 'cell:b'] : t === ROUTE ? ['cell:a', 'cell:b', 'frozen'] : [],
        });
        const r = await s.next();
        assert.equal(r.type_url, t);
        held.set(t, r);
        s.send({
          type_url: t,
          version_info: r.version_info,
          response_nonce: r.nonce,
          resource_names: t === ENDPOINT ? ['cell:a', 'cell:b'] : t === ROUTE ? ['cell:a', 'cell:b', 'frozen'] : [],
        });
      }
      await s.none(100);
      cache.setSnapshot(node.id, snapshotOf(['a', 'b'], { m1: 'b' })); // changes CDS, EDS, RDS, SRDS (not LDS)
      const order: string[] = [];
      for (let i = 0; i < 4; i++) order.push((await s.next()).type_url);
      assert.deepEqual(order, [CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE]);
      await s.none(150);
    } finally {
      s.close();
    }
  });

  it('delta: wildcard and explicit subscriptions, only changed resources, removals, unsubscribe, NACK parked, stale nonce', async () => {
    const node = { id: 'node-delta', cluster: 'test' };
    cache.setSnapshot(node.id, snapshotOf(['a', 'b'], { m1: 'a', m2: 'b', m3: 'a' }));
    const s = new Script<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(
      client.DeltaAggregatedResources() as grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>,
    );
    try {
      // Wildcard SRDS: 3 scopes, at most 2 per response (maxDeltaResources = 2), then the rest after the ACK.
      s.send({ node, type_url: SCOPED_ROUTE });
      const d1 = await s.next();
      assert.equal(d1.type_url, SCOPED_ROUTE);
      assert.equal(d1.resources?.length ?? 0, 2);
      assert.ok(d1.system_version_info.length > 0);
      assert.ok(d1.resources.every((r) => r.version.length === 16 && r.resource.type_url === SCOPED_ROUTE));
      s.send({ type_url: SCOPED_ROUTE, response_nonce: d1.nonce });
      const d2 = await s.next();
      assert.equal(d2.resources?.length ?? 0, 1);
      assert.ok(nonceNum(d2.nonce) > nonceNum(d1.nonce));
      s.send({ type_url: SCOPED_ROUTE, response_nonce: d2.nonce });
      await s.none(150);

      // A move of m2: exactly one resource is sent.
      cache.setSnapshot(node.id, snapshotOf(['a', 'b'], { m1: 'a', m2: 'a', m3: 'a' }));
      const d3 = await s.next();
      assert.deepEqual(
        d3.resources.map((r) => r.name),
        ['market:m2'],
      );
      assert.equal(decodeAny(d3.resources[0]!.resource).route_configuration_name, 'cell:a');
      s.send({ type_url: SCOPED_ROUTE, response_nonce: d3.nonce });

      // A deletion: removed_resources.
      cache.setSnapshot(node.id, snapshotOf(['a', 'b'], { m1: 'a', m2: 'a' }));
      const d4 = await s.next();
      assert.deepEqual(d4.removed_resources ?? [], ['market:m3']);
      assert.equal(d4.resources?.length ?? 0, 0);
      // NACK it: parked, no resend; stale nonce (d3's) ignored.
      s.send({ type_url: SCOPED_ROUTE, response_nonce: d3.nonce, error_detail: { code: 3, message: 'stale' } });
      s.send({ type_url: SCOPED_ROUTE, response_nonce: d4.nonce, error_detail: { code: 3, message: 'rejected removal' } });
      await s.none(300);
      const st = status.list().find((n) => n.id === node.id)!.types.srds!;
      assert.equal(st.nacks, 1);
      assert.equal(st.parked, true);
      assert.equal(st.lastAckedVersion, d3.system_version_info);

      // Explicit subscription (EDS): subscribe, then unsubscribe and resubscribe resends it.
      s.send({ type_url: ENDPOINT, resource_names_subscribe: ['cell:a'] });
      const e1 = await s.next();
      assert.deepEqual(
        e1.resources.map((r) => r.name),
        ['cell:a'],
      );
      s.send({ type_url: ENDPOINT, response_nonce: e1.nonce });
      s.send({ type_url: ENDPOINT, resource_names_subscribe: ['cell:b'] });
      const e2 = await s.next();
      assert.deepEqual(
        e2.resources.map((r) => r.name),
        ['cell:b'],
        'only the newly subscribed resource',
      );
      s.send({ type_url: ENDPOINT, response_nonce: e2.nonce, resource_names_unsubscribe: ['cell:b'] });
      await s.none(150);
      s.send({ type_url: ENDPOINT, resource_names_subscribe: ['cell:b'] });
      const e3 = await s.next();
      assert.deepEqual(
        e3.resources.map((r) => r.name),
        ['cell:b'],
      );
      s.send({ type_url: ENDPOINT, response_nonce: e3.nonce });
    } finally {
      s.close();
    }
  });

  it('delta: a reconnecting client that names the versions it holds gets only what changed', async () => {
    const node = { id: 'node-resume', cluster: 'test' };
    const snap = snapshotOf(['a', 'b'], { m1: 'a', m2: 'b' });
    cache.setSnapshot(node.id, snap);
    const held = Object.fromEntries([...snap.type(SCOPED_ROUTE).items.values()].map((r) => [r.name, r.version]));
    held['market:m2'] = '0000000000000000'; // pretend m2 is stale
    held['market:gone'] = '1111111111111111'; // and the client holds one that no longer exists
    const s = new Script<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(
      client.DeltaAggregatedResources() as grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>,
    );
    try {
      s.send({ node, type_url: SCOPED_ROUTE, initial_resource_versions: held });
      const d = await s.next();
      assert.deepEqual(
        d.resources.map((r) => r.name),
        ['market:m2'],
      );
      assert.deepEqual(d.removed_resources ?? [], ['market:gone']);
    } finally {
      s.close();
    }
  });
});
