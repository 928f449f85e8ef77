/** The control plane's HTTP app through app.request() (no socket). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createLogger } from '../shared/logger.js';
import { createHttpApp } from './http.js';
import type { Xds } from './xds/index.js';

function fakeXds(ready: boolean, markets: Record<string, 'active' | 'frozen'> = {}): Xds & { injected: string[] } {
  const injected: string[] = [];
  return {
    injected,
    port: 0,
    ready,
    health: () => ({ ready, source: ready ? 'snapshot' : 'none', consulReachable: false, degraded: true }),
    status: () => ({
      id: 'cp-t',
      ready,
      health: { ready, source: ready ? 'snapshot' : 'none', consulReachable: false, degraded: true },
      consul: {},
      snapshots: {},
      nodes: [],
    }),
    current: () => ({
      markets: new Map(Object.entries(markets).map(([m, state]) => [m, { cell: 'cell-a', state, epoch: 1 }])),
      cells: new Map(),
      endpoints: new Map(),
      globalCell: undefined,
    }),
    publishedMarket: (m: string) => (markets[m] === undefined ? 'absent' : markets[m] === 'frozen' ? 'frozen' : 'routed'),
    nodesInSync: () => true,
    nodesBehind: () => [],
    injectInvalid: (node = '*') => void injected.push(node),
    clearInjected: () => void injected.push('cleared'),
    stop: async () => undefined,
  };
}

const log = createLogger('test');
log.level = 'silent';

describe('control-plane HTTP app', () => {
  it('answers health, readiness (503 until Consul state is in), metrics and /xds/status', async () => {
    const app = createHttpApp({ registry: new Registry(), xds: fakeXds(false), log, testHooks: false });
    assert.equal((await app.request('/healthz')).status, 200);
    assert.equal((await app.request('/readyz')).status, 503);
    const ready = await createHttpApp({ registry: new Registry(), xds: fakeXds(true), log, testHooks: false }).request('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true, source: 'snapshot', degraded: true, consulReachable: false });
    const registering = createHttpApp({ registry: new Registry(), xds: fakeXds(true), log, testHooks: false, announced: () => false });
    assert.equal((await registering.request('/readyz')).status, 503);
    assert.equal((await app.request('/metrics')).status, 200);
    assert.deepEqual(((await (await app.request('/xds/status')).json()) as { id: string }).id, 'cp-t');
  });

  it('answers unknown routes with the JSON error shape, and has no test hooks unless asked', async () => {
    const app = createHttpApp({ registry: new Registry(), xds: fakeXds(true), log, testHooks: false });
    const res = await app.request('/xds/test/invalid', { method: 'POST' });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
  });

  it('mounts the NACK injection only with test hooks', async () => {
    const xds = fakeXds(true);
    const app = createHttpApp({ registry: new Registry(), xds, log, testHooks: true });
    assert.equal((await app.request('/xds/test/invalid?node=edge-1', { method: 'POST' })).status, 201);
    assert.equal((await app.request('/xds/test/invalid', { method: 'DELETE' })).status, 200);
    assert.deepEqual(xds.injected, ['edge-1', 'cleared']);
  });

  it('holds a request for a frozen market, then answers 503 market_migrating with Retry-After; redirects when not frozen', async () => {
    const app = createHttpApp({
      registry: new Registry(),
      xds: fakeXds(true, { 'm-f': 'frozen', 'm-a': 'active' }),
      log,
      testHooks: false,
    });
    const t0 = Date.now();
    const held = await app.request('http://edge.local/v1/orders?x=1', {
      headers: { 'x-cellsim-hold-ms': '200', 'x-market-id': 'm-f', host: 'edge.local:10000' },
    });
    assert.equal(held.status, 503);
    assert.equal(held.headers.get('retry-after'), '1');
    assert.equal(((await held.json()) as { error: { code: string } }).error.code, 'market_migrating');
    assert.ok(Date.now() - t0 >= 190);
    const released = await app.request('http://edge.local/v1/orders?x=1', {
      headers: { 'x-cellsim-hold-ms': '200', 'x-market-id': 'm-a', host: 'edge.local:10000' },
    });
    assert.equal(released.status, 307);
    assert.equal(released.headers.get('location'), 'http://edge.local:10000/v1/orders?x=1');
    // Behind an HTTPS edge the Location keeps the client's scheme: Envoy follows only a same-scheme redirect.
    const tls = await app.request('http://edge.local/v1/orders?x=1', {
      headers: { 'x-cellsim-hold-ms': '200', 'x-market-id': 'm-a', host: 'edge.local:10000', 'x-forwarded-proto': 'https' },
    });
    assert.equal(tls.status, 307);
    assert.equal(tls.headers.get('location'), 'https://edge.local:10000/v1/orders?x=1');
    const proto = await app.request('/v1/orders', {
      headers: { 'x-cellsim-hold-ms': '200', 'x-market-id': 'm-a', host: 'edge.local', 'x-forwarded-proto': 'gopher' },
    });
    assert.equal(proto.status, 400);
    const bad = await app.request('/v1/orders', { headers: { 'x-cellsim-hold-ms': '200', 'x-market-id': 'BAD', host: 'edge.local' } });
    assert.equal(bad.status, 400);
  });
});
