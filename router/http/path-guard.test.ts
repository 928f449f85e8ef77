/** The raw path check without a cell: what is refused (400 non-canonical, 404 outside /v1/), and that the raw path (not the parsed URL) is checked. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import type { Env } from './deps.js';
import { errorAnswerer } from './errors.js';
import { fakeRouterDeps, metricValue } from './fakes.test-helper.js';
import { classifyEdgePath } from '../../shared/market.js';
import { installPathGuard, rawPathOf } from './path-guard.js';

describe('router path guard', () => {
  it('finds dot segments, encoded dots, slashes, backslashes and NUL, backslashes and double slashes, in the path only', () => {
    for (const p of [
      '/v1/../admin',
      '/v1/./orders',
      '/..',
      '/v1/..',
      '/v1/orders%2F..',
      '/v1/%2e%2e/x',
      '/v1\\admin',
      '/v1/a%5Cb',
      '//v1/orders',
      '/v1//orders',
      '/v1/orders%00',
    ]) {
      assert.equal(classifyEdgePath(p) === 'invalid', true, p);
    }
    for (const p of [
      '/v1/orders',
      '/v1/orders?next=../x',
      '/v1/orders?q=%2f',
      '/v1/orders?r=//x',
      '/v1/orders..x',
      '/v1/.well-known',
      '/v1/a.b/c',
      '/v1/orders/',
      '/',
    ]) {
      assert.equal(classifyEdgePath(p) === 'invalid', false, p);
    }
  });

  it("answers 400 invalid_request for a non-canonical raw path (node's url), counted as rejected, before any route", async () => {
    const t = fakeRouterDeps();
    const app = new Hono<Env>();
    installPathGuard(app, errorAnswerer(t.deps));
    let reached = 0;
    app.all('/v1/*', (c) => {
      reached++;
      return c.json({ path: rawPathOf(c) });
    });
    const ok = await app.request('/v1/orders?x=1');
    assert.deepEqual(await ok.json(), { path: '/v1/orders?x=1' });
    // The web URL parser would turn this into /admin; node's raw url keeps what the client sent.
    const raw = await app.request('/v1/orders', {}, { incoming: { url: '/v1/../admin' } as never });
    assert.equal(raw.status, 400);
    assert.deepEqual(await raw.json(), {
      error: { code: 'invalid_request', message: 'path must not contain dot segments, encoded separators, NUL or empty segments' },
    });
    assert.equal((await app.request('/v1/orders%2fx')).status, 400);
    assert.equal((await app.request('/v1/orders', {}, { incoming: { url: '/v1//orders' } as never })).status, 400);
    assert.equal((await app.request('/v1/orders%00')).status, 400);
    assert.equal(reached, 1);
    assert.equal(await metricValue(t.registry, 'cellsim_router_rejected_total', { reason: 'invalid_request' }), 4);
    assert.equal(await metricValue(t.registry, 'cellsim_router_requests_total', { cell: '-', status: '400' }), 4);
  });

  it('answers 404 not_found outside /v1/ (even where a /v1/* route would match, e.g. /v1), but lets the router own paths through', async () => {
    const t = fakeRouterDeps();
    const app = new Hono<Env>();
    installPathGuard(app, errorAnswerer(t.deps));
    const reached: string[] = [];
    app.all('/v1/*', (c) => {
      reached.push(rawPathOf(c));
      return c.json({ routed: true });
    });
    for (const p of ['/metrics', '/healthz', '/readyz']) app.get(p, (c) => c.json({ own: p }));
    for (const p of ['/admin/faults', '/', '/v1', '/V1/orders', '/metricsx', '/admin/markets/m-a/export']) {
      const res = await app.request(p);
      assert.equal(res.status, 404, p);
      assert.deepEqual(await res.json(), { error: { code: 'not_found', message: 'only /v1/ paths are served here' } }, p);
    }
    assert.deepEqual(reached, []);
    assert.deepEqual(await (await app.request('/metrics?x=1')).json(), { own: '/metrics' });
    assert.deepEqual(await (await app.request('/readyz')).json(), { own: '/readyz' });
    assert.equal(await metricValue(t.registry, 'cellsim_router_rejected_total', { reason: 'not_found' }), 6);
  });

  it('answers 400 invalid_request to a header name with an underscore, on node raw headers and on a web Request', async () => {
    const t = fakeRouterDeps();
    const app = new Hono<Env>();
    installPathGuard(app, errorAnswerer(t.deps));
    let reached = 0;
    app.all('/v1/*', (c) => {
      reached++;
      return c.json({ routed: true });
    });
    const web = await app.request('/v1/orders', { headers: { x_market_id: 'm-a' } });
    assert.equal(web.status, 400);
    assert.deepEqual(await web.json(), { error: { code: 'invalid_request', message: 'header names must not contain underscores' } });
    const node = await app.request(
      '/v1/orders',
      {},
      { incoming: { url: '/v1/orders', rawHeaders: ['x-market-id', 'm-a', 'X_Cell_Id', 'c'] } as never },
    );
    assert.equal(node.status, 400);
    assert.equal(
      (await app.request('/v1/orders', {}, { incoming: { url: '/v1/orders', rawHeaders: ['x-market-id', 'm_a'] } as never })).status,
      200,
    );
    assert.equal(reached, 1);
  });
});
