/** The raw path check without a cell: what escapes its prefix, and that the raw path (not the parsed URL) is checked. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import type { Env } from './deps.js';
import { errorAnswerer } from './errors.js';
import { fakeRouterDeps, metricValue } from './fakes.test-helper.js';
import { escapesPrefix, installPathGuard, rawPathOf } from './path-guard.js';

describe('router path guard', () => {
  it('finds dot segments, encoded dots, slashes and backslashes, in the path only', () => {
    for (const p of ['/v1/../admin', '/v1/./orders', '/..', '/v1/..', '/v1/orders%2F..', '/v1/%2e%2e/x', '/v1\\admin', '/v1/a%5Cb']) {
      assert.equal(escapesPrefix(p), true, p);
    }
    for (const p of ['/v1/orders', '/v1/orders?next=../x', '/v1/orders?q=%2f', '/v1/orders..x', '/v1/.well-known', '/v1/a.b/c', '/']) {
      assert.equal(escapesPrefix(p), false, p);
    }
  });

  it("answers 400 invalid_request for an escaping raw path (node's url), counted as rejected, before any route", async () => {
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
      error: { code: 'invalid_request', message: 'path must not contain dot segments or encoded separators' },
    });
    assert.equal((await app.request('/v1/orders%2fx')).status, 400);
    assert.equal(reached, 1);
    assert.equal(await metricValue(t.registry, 'cellsim_router_rejected_total', { reason: 'invalid_request' }), 2);
    assert.equal(await metricValue(t.registry, 'cellsim_router_requests_total', { cell: '-', status: '400' }), 2);
  });
});
