import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEchoCell, type EchoCell } from '../infra/harness/echo-cell.js';
import { createLogger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import { RoutingStore } from '../shared/routing-store.js';
import type { CellRecord } from '../shared/kv.js';
import { HoldQueue } from './hold/index.js';
import { Isolation } from './isolation/index.js';
import { createRouterMetrics } from './metrics.js';
import { PoolSet, Proxy } from './proxy/index.js';
import { createRouterApp } from './server.js';
import { Resolver } from './table/resolver.js';
import type { TableStatus } from './table/source.js';

const cellRec = (id: string, extra: Partial<CellRecord> = {}): [string, CellRecord] => [
  id,
  { id, state: 'active', canary: false, global: false, capacity: 10, version: 'v1', ...extra },
];

function setup(tableReady = true) {
  const registry = createRegistry('router-test');
  const metrics = createRouterMetrics(registry);
  const store = new RoutingStore();
  const resolver = new Resolver(store, metrics);
  const hold = new HoldQueue({ holdMs: 300 });
  store.onChange((c) => {
    if (c.kind === 'markets') for (const id of c.ids) hold.release(id);
  });
  const pools = new PoolSet();
  const isolation = new Isolation({ breaker: { consecutiveFailures: 2, openMs: 60_000 } }, metrics);
  const status = { ready: tableReady, degraded: !tableReady, source: tableReady ? 'consul' : 'none' } as TableStatus;
  const app = createRouterApp({
    id: 'test',
    resolver,
    table: { status: () => status },
    proxy: new Proxy(pools, metrics, { headersTimeoutMs: 2000 }),
    isolation,
    hold,
    registry,
    metrics,
    logger: createLogger('router-test'),
  });
  return { app, store, pools, isolation, hold, registry, status };
}

async function json(
  res: Response,
): Promise<{ error?: { code: string; message: string }; cell?: string; headers?: Record<string, string> }> {
  return (await res.json()) as never;
}

describe('router app (app.request)', () => {
  let echo: EchoCell;
  let t: ReturnType<typeof setup>;
  before(async () => {
    echo = await startEchoCell({ cell: 'c1' });
    t = setup();
    t.store.setCells(
      new Map([cellRec('c1'), cellRec('c2'), cellRec('g', { global: true }), cellRec('dead'), cellRec('off', { state: 'down' })]),
    );
    const ep = (id: string, cell: string, port: number) => ({
      id,
      cell,
      address: '127.0.0.1',
      port,
      version: 'v1',
      color: 'blue' as const,
    });
    t.store.setEndpoints([ep('c1-1', 'c1', echo.port), ep('g-1', 'g', echo.port), ep('dead-1', 'dead', 1), ep('off-1', 'off', echo.port)]);
    t.store.applyMarkets([
      ['m1', { cell: 'c1', state: 'active', epoch: 1 }],
      ['m2', { cell: 'c2', state: 'active', epoch: 1 }],
      ['ghost', { cell: 'nowhere', state: 'active', epoch: 1 }],
      ['mdead', { cell: 'dead', state: 'active', epoch: 1 }],
      ['moff', { cell: 'off', state: 'active', epoch: 1 }],
      ['mf', { cell: 'c2', state: 'frozen', epoch: 3 }],
      ['mf2', { cell: 'c2', state: 'frozen', epoch: 3 }],
    ]);
  });
  after(async () => {
    await t.pools.close(100);
    await echo.close();
  });

  it('proxies a market request, strips internal headers and sets x-cell-id, x-request-id, x-forwarded-for', async () => {
    const res = await t.app.request('/v1/orders?x=1', {
      headers: {
        'x-market-id': 'm1',
        'x-cell-id': 'c2',
        'x-cellsim-route': 'c2',
        connection: 'x-secret',
        'x-secret': 'hop',
        'x-request-id': 'abc-1',
      },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-cell-id'), 'c1');
    assert.equal(res.headers.get('x-request-id'), 'abc-1');
    const body = await json(res);
    assert.equal(body.cell, 'c1');
    assert.equal(body.headers!['x-cell-id'], undefined);
    assert.equal(body.headers!['x-cellsim-route'], undefined);
    assert.equal(body.headers!['x-secret'], undefined, 'a field named by Connection is hop-by-hop');
    assert.equal(body.headers!['x-request-id'], 'abc-1');
  });

  it('streams a request body to the cell', async () => {
    const res = await t.app.request('/v1/orders', {
      method: 'POST',
      headers: { 'x-market-id': 'm1', 'content-type': 'application/json', 'content-length': '11' },
      body: '{"qty":123}',
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { body: string; method: string };
    assert.equal(body.method, 'POST');
    assert.equal(body.body, '{"qty":123}');
  });

  it('answers 400 for bad market headers and 404 for an unknown market', async () => {
    const cases: [Record<string, string>, number, string][] = [
      [{}, 400, 'missing_market'],
      [{ 'x-market-id': '' }, 400, 'missing_market'],
      [{ 'x-market-id': 'SF' }, 400, 'invalid_market'],
      [{ 'x-market-id': 'a'.repeat(64) }, 400, 'invalid_market'],
      [{ 'x-market-id': 'm1, m2' }, 400, 'invalid_market'],
      [{ 'x-market-id': 'nope' }, 404, 'unknown_market'],
    ];
    const before = echo.received.length;
    for (const [headers, status, code] of cases) {
      const res = await t.app.request('/v1/orders', { headers });
      assert.equal(res.status, status, JSON.stringify(headers));
      assert.equal((await json(res)).error?.code, code);
    }
    assert.equal(echo.received.length, before);
  });

  it('routes /v1/global/ to the global cell and 404s paths outside /v1', async () => {
    const res = await t.app.request('/v1/global/ping');
    assert.equal(res.headers.get('x-cell-id'), 'g');
    const other = await t.app.request('/admin/faults', { headers: { 'x-market-id': 'm1' } });
    assert.equal(other.status, 404);
    assert.equal((await json(other)).error?.code, 'not_found');
  });

  it('answers 503 cell_unavailable with Retry-After for a cell with no endpoint, an unknown cell and a down cell', async () => {
    for (const m of ['m2', 'ghost', 'moff']) {
      const res = await t.app.request('/v1/orders', { headers: { 'x-market-id': m } });
      assert.equal(res.status, 503, m);
      assert.equal((await json(res)).error?.code, 'cell_unavailable');
      assert.ok(res.headers.get('retry-after'));
    }
  });

  it('opens the breaker of a refusing cell, then fails fast without touching it', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await t.app.request('/v1/orders', { headers: { 'x-market-id': 'mdead' } });
      assert.equal(res.status, 503);
      await res.arrayBuffer();
    }
    assert.equal(t.isolation.states().dead?.breaker, 'open');
    // Medians of 21, interleaved with a request answered in-process without any cell (a
    // malformed market): the machine is shared, so an absolute bound would measure its load.
    const times: number[] = [];
    const local: number[] = [];
    for (let i = 0; i < 21; i++) {
      let t0 = performance.now();
      const res = await t.app.request('/v1/orders', { headers: { 'x-market-id': 'mdead' } });
      times.push(performance.now() - t0);
      assert.equal((await json(res)).error?.code, 'cell_unavailable');
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
      t0 = performance.now();
      const bad = await t.app.request('/v1/orders', { headers: { 'x-market-id': 'Not A Market' } });
      local.push(performance.now() - t0);
      assert.equal((await json(bad)).error?.code, 'invalid_market');
    }
    const median = times.sort((a, b) => a - b)[10]!;
    const localMedian = local.sort((a, b) => a - b)[10]!;
    assert.ok(
      median < 3 * localMedian + 2,
      `fast fail took ${median.toFixed(2)} ms (median) vs ${localMedian.toFixed(2)} ms for an answer without a cell`,
    );
  });

  it('holds a frozen market until the bound, then 503 market_migrating; a flip releases it to the new owner', async () => {
    const t0 = performance.now();
    const res = await t.app.request('/v1/orders', { headers: { 'x-market-id': 'mf' } });
    assert.equal(res.status, 503);
    assert.equal((await json(res)).error?.code, 'market_migrating');
    assert.equal(res.headers.get('retry-after'), '1');
    assert.ok(performance.now() - t0 >= 280);

    const pending = t.app.request('/v1/orders', { headers: { 'x-market-id': 'mf2' } });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(t.hold.size, 1);
    t.store.applyMarkets([['mf2', { cell: 'c1', state: 'active', epoch: 4 }]]);
    const released = await pending;
    assert.equal(released.status, 200);
    assert.equal(released.headers.get('x-cell-id'), 'c1');
  });

  it('refuses a path with encoded separators (dot segments: see the integration test, URL parsing removes them here)', async () => {
    const res = await t.app.request('/v1/orders%2f..%2fadmin', { headers: { 'x-market-id': 'm1' } });
    assert.equal(res.status, 400);
    assert.equal((await json(res)).error?.code, 'invalid_request');
  });

  it('serves /healthz, /metrics with per-cell counts, and /readyz 503 until a table is loaded', async () => {
    assert.equal((await t.app.request('/healthz')).status, 200);
    const metrics = await (await t.app.request('/metrics')).text();
    assert.match(metrics, /cellsim_router_requests_total\{cell="c1",status="200"/);
    assert.match(metrics, /cellsim_router_breaker_state\{cell="dead"[^}]*\} 2/);
    assert.match(metrics, /cellsim_router_route_cache_total\{result="hit"/);
    assert.equal((await t.app.request('/readyz')).status, 200);
    const fresh = setup(false);
    const r = await fresh.app.request('/readyz');
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { ready: boolean }).ready, false);
  });
});
