/**
 * /healthz, /readyz, /metrics and /route without Consul: readiness from the table and draining,
 * metrics from the workers or this registry, the route view only with the router-admin token.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import type { Env } from './deps.js';
import { fakeRouterDeps } from './fakes.test-helper.js';
import { opsRoutes } from './ops-routes.js';
import { cellRecord } from './fakes.test-helper.js';
import { MarketSending } from './market-view.js';
import { errorAnswerer, installFallbacks } from './errors.js';

const ROUTE_TOKEN = 'route-view-token-0123456789';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function setup(opts: { ready?: boolean; routeViewToken?: string | null } = {}) {
  const t = fakeRouterDeps(opts);
  if (opts.routeViewToken !== null) t.deps.routeViewToken = opts.routeViewToken ?? ROUTE_TOKEN;
  const app = new Hono<Env>();
  opsRoutes(app, t.deps);
  installFallbacks(app, t.deps, errorAnswerer(t.deps));
  return { ...t, app };
}

describe('router ops endpoints', () => {
  it('/healthz answers alive with the id and pid', async () => {
    const t = setup();
    assert.deepEqual(await (await t.app.request('/healthz')).json(), { ok: true, id: 'r-test', pid: process.pid });
  });

  it('/readyz answers 200 with a loaded table, 503 without one or while draining', async () => {
    const t = setup();
    const ready = await t.app.request('/readyz');
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as Record<string, unknown>;
    assert.deepEqual(
      { ...body, table: undefined },
      {
        ready: true,
        id: 'r-test',
        degraded: false,
        draining: false,
        source: 'consul',
        table: undefined,
        breakers: {},
        held: 0,
        routeCache: 0,
      },
    );
    assert.deepEqual(body.table, t.status);
    let draining = true;
    t.deps.draining = () => draining;
    const drained = await t.app.request('/readyz');
    assert.equal(drained.status, 503);
    assert.deepEqual(((await drained.json()) as { ready: boolean; draining: boolean }).draining, true);
    draining = false;
    t.status.ready = false;
    const notLoaded = await t.app.request('/readyz');
    assert.equal(notLoaded.status, 503);
    assert.equal(((await notLoaded.json()) as { ready: boolean }).ready, false);
  });

  it("/metrics answers this registry's text, or the workers' aggregate, falling back to its own when that fails", async () => {
    const t = setup();
    let statusCalls = 0;
    t.deps.table.status = () => {
      statusCalls++;
      return t.status;
    };
    const own = await t.app.request('/metrics');
    assert.equal(own.status, 200);
    assert.equal(own.headers.get('content-type'), t.registry.contentType);
    assert.match(await own.text(), /cellsim_router_requests_total/);
    assert.equal(statusCalls, 1, 'the table status is read to refresh its gauges');
    t.deps.clusterMetrics = async () => 'all_workers 3\n';
    assert.equal(await (await t.app.request('/metrics')).text(), 'all_workers 3\n');
    t.deps.clusterMetrics = async () => {
      throw new Error('primary gone');
    };
    assert.match(await (await t.app.request('/metrics')).text(), /cellsim_router_requests_total/);
    assert.deepEqual(
      t.lines.map((l) => [l.level, l.obj, l.msg]),
      [['warn', { err: 'primary gone' }, "aggregated worker metrics unavailable; answering with this worker's own"]],
    );
  });

  it('/route answers its view of a market (a freeze barrier asks it): the route, table readiness and requests sending', async () => {
    const t = setup();
    t.store.setCells(new Map([cellRecord('c1')]));
    t.store.applyMarkets([
      ['m1', { cell: 'c1', state: 'frozen', epoch: 4 }],
      ['m2', { cell: 'c1', state: 'active', epoch: 1 }],
    ]);
    t.deps.sending = new MarketSending();
    t.deps.sending.enter('m2');
    const get = async (q: string) => {
      const res = await t.app.request(`/route${q}`, { headers: bearer(ROUTE_TOKEN) });
      return [res.status, await res.json()];
    };
    assert.deepEqual(await get('?market=m1'), [
      200,
      { id: 'r-test', market: 'm1', views: [{ ready: true, route: { cell: 'c1', state: 'frozen', epoch: 4 }, sending: 0 }] },
    ]);
    assert.deepEqual(await get('?market=m2'), [
      200,
      { id: 'r-test', market: 'm2', views: [{ ready: true, route: { cell: 'c1', state: 'active', epoch: 1 }, sending: 1 }] },
    ]);
    assert.deepEqual(await get('?market=nope'), [200, { id: 'r-test', market: 'nope', views: [{ ready: true, route: null, sending: 0 }] }]);
    assert.deepEqual(await get(''), [400, { error: { code: 'missing_market', message: 'query parameter market is required' } }]);
    const [status, body] = await get('?market=Bad_ID');
    assert.deepEqual([status, (body as { error: { code: string } }).error.code], [400, 'invalid_market']);
    t.deps.marketViews = async (m) => [
      { worker: 1, ready: true, route: null, sending: 0 },
      { worker: 2, ready: false, route: null, sending: 0, error: `no ${m}` },
    ];
    assert.deepEqual(await get('?market=m1'), [
      200,
      {
        id: 'r-test',
        market: 'm1',
        views: [
          { worker: 1, ready: true, route: null, sending: 0 },
          { worker: 2, ready: false, route: null, sending: 0, error: 'no m1' },
        ],
      },
    ]);
  });

  it('/route answers only the router-admin token: 401 unauthorized in the contract shape without it, with another, or when none is configured', async () => {
    const t = setup();
    t.store.setCells(new Map([cellRecord('c1')]));
    t.store.applyMarkets([['m1', { cell: 'c1', state: 'frozen', epoch: 4 }]]);
    const refused = async (app: Hono<Env>, headers: Record<string, string>) => {
      const res = await app.request('/route?market=m1', { headers });
      const body = (await res.json()) as { error: { code: string; message: string }; views?: unknown };
      return [res.status, body.error.code, body.error.message, body.views];
    };
    assert.deepEqual(await refused(t.app, {}), [
      401,
      'unauthorized',
      'missing bearer token (Authorization: Bearer <token>) for the route view',
      undefined,
    ]);
    assert.deepEqual(await refused(t.app, bearer('another-token-0123456789')), [
      401,
      'unauthorized',
      'wrong token for the route view',
      undefined,
    ]);
    assert.deepEqual(await refused(t.app, { authorization: `Basic ${ROUTE_TOKEN}` }), [
      401,
      'unauthorized',
      'malformed Authorization header for the route view (Authorization: Bearer <token>)',
      undefined,
    ]);
    const none = setup({ routeViewToken: null });
    assert.deepEqual(await refused(none.app, bearer(ROUTE_TOKEN)), [
      401,
      'unauthorized',
      'the route view is disabled: no token is configured',
      undefined,
    ]);
    const ok = await t.app.request('/route?market=m1', { headers: bearer(ROUTE_TOKEN) });
    assert.equal(ok.status, 200);
    // The router's other endpoints stay open (load balancers and scrapers call them).
    for (const path of ['/healthz', '/readyz', '/metrics']) assert.equal((await t.app.request(path)).status, 200, path);
  });
});
