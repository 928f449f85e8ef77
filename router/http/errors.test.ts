/** The router's own error answers without a cell: counted, headers set, logged only when a 5xx is the router's fault; 404 and uncaught errors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { HttpError } from '../../shared/errors.js';
import type { Env } from './deps.js';
import { errorAnswerer, installFallbacks } from './errors.js';
import { fakeRouterDeps, metricValue } from './fakes.test-helper.js';

describe('router error answers', () => {
  it('answers the JSON shape with the error headers and request id, and counts it by reason, cell and status', async () => {
    const t = fakeRouterDeps();
    const answer = errorAnswerer(t.deps);
    const app = new Hono<Env>();
    app.get('/x', (c) =>
      answer(c, new HttpError('cell_unavailable', 'cell c1 is down', { headers: { 'retry-after': '5' } }), 'c1', 'req-1'),
    );
    const res = await app.request('/x');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.equal(res.headers.get('x-request-id'), 'req-1');
    assert.deepEqual(await res.json(), { error: { code: 'cell_unavailable', message: 'cell c1 is down' } });
    assert.equal(await metricValue(t.registry, 'cellsim_router_rejected_total', { reason: 'cell_unavailable' }), 1);
    assert.equal(await metricValue(t.registry, 'cellsim_router_requests_total', { cell: 'c1', status: '503' }), 1);
  });

  it('logs a 5xx that is no cell or table state (e.g. upstream_timeout, internal), and nothing else', async () => {
    const t = fakeRouterDeps();
    const answer = errorAnswerer(t.deps);
    const app = new Hono<Env>();
    let next: HttpError = new HttpError('internal', 'x');
    app.get('/x', (c) => answer(c, next, 'c1'));
    const quiet: HttpError[] = [
      new HttpError('cell_unavailable', 'a'),
      new HttpError('market_migrating', 'b'),
      new HttpError('overloaded', 'c'),
      new HttpError('not_ready', 'd'),
      new HttpError('unknown_market', 'e'),
      new HttpError('bad_gateway', 'client went away', { status: 499 }),
    ];
    for (const err of quiet) {
      next = err;
      assert.equal((await app.request('/x')).status, err.status);
    }
    assert.equal(t.lines.length, 0);
    for (const err of [
      new HttpError('upstream_timeout', 'slow'),
      new HttpError('bad_gateway', 'reset'),
      new HttpError('internal', 'bug'),
    ]) {
      next = err;
      await app.request('/x');
    }
    assert.deepEqual(
      t.lines.map((l) => [l.level, (l.obj as { code: string }).code, l.msg]),
      [
        ['warn', 'upstream_timeout', 'router answered an error'],
        ['warn', 'bad_gateway', 'router answered an error'],
        ['warn', 'internal', 'router answered an error'],
      ],
    );
  });

  it('answers 404 not_found for a path outside the routes, and an uncaught error as 500 internal (logged)', async () => {
    const t = fakeRouterDeps();
    const app = new Hono<Env>();
    app.get('/refuse', () => {
      throw new HttpError('overloaded', 'full', { headers: { 'retry-after': '1' } });
    });
    app.get('/crash', () => {
      throw new Error('bug');
    });
    installFallbacks(app, t.deps, errorAnswerer(t.deps));
    const missing = await app.request('/admin/faults', { method: 'DELETE' });
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: { code: 'not_found', message: 'no route for DELETE /admin/faults' } });
    const refused = await app.request('/refuse');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(await metricValue(t.registry, 'cellsim_router_requests_total', { cell: '-', status: '503' }), 1);
    const crashed = await app.request('/crash');
    assert.equal(crashed.status, 500);
    assert.deepEqual(await crashed.json(), { error: { code: 'internal', message: 'internal error' } });
    assert.deepEqual(
      t.lines.map((l) => [l.level, l.msg]),
      [['error', 'unhandled error']],
    );
  });
});
