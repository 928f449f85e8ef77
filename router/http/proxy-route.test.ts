/**
 * The /v1 routing handler without Consul or a cell (a fake proxy): which cell a request goes
 * to and what is sent on, the answers for bad markets, unknown and down cells, the table wait,
 * a held market, and the proxy's failures. The same handler against a real cell: router/server.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { HttpError } from '../../shared/errors.js';
import { experimentBucket } from '../../shared/experiment.js';
import type { Env } from './deps.js';
import { errorAnswerer } from './errors.js';
import { cellRecord, fakeRouterDeps, metricValue, upstream } from './fakes.test-helper.js';
import { proxyRoute } from './proxy-route.js';
import { MarketSending } from './market-view.js';

function setup(opts: { ready?: boolean; holdMs?: number; readyHoldMs?: number } = {}) {
  const t = fakeRouterDeps(opts);
  t.deps.readyHoldMs = opts.readyHoldMs;
  t.store.setCells(new Map([cellRecord('c1'), cellRecord('c2'), cellRecord('g', { global: true }), cellRecord('off', { state: 'down' })]));
  t.store.applyMarkets([
    ['m1', { cell: 'c1', state: 'active', epoch: 1 }],
    ['ghost', { cell: 'nowhere', state: 'active', epoch: 1 }],
    ['moff', { cell: 'off', state: 'active', epoch: 1 }],
    ['mf', { cell: 'c1', state: 'frozen', epoch: 2 }],
  ]);
  const app = new Hono<Env>();
  proxyRoute(app, t.deps, errorAnswerer(t.deps));
  return { ...t, app };
}

type ErrorJson = { error: { code: string; message: string } };

describe('router /v1 route', () => {
  it("forwards a market's request to its cell: method, raw path with query, body, upstream headers and a request id", async () => {
    const t = setup();
    t.proxy.answer = async () => upstream(201, 'created', { 'x-cell-id': 'c1' });
    const res = await t.app.request('/v1/orders?x=1', {
      method: 'POST',
      headers: { 'x-market-id': 'm1', 'content-length': '7', 'x-request-id': 'req-1', 'x-cellsim-route': 'c2' },
      body: '{"a":1}',
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-cell-id'), 'c1');
    assert.equal(await res.text(), 'created');
    const [f] = t.forwarded;
    assert.deepEqual([f?.req.method, f?.req.path, f?.req.requestId, f?.route.cell], ['POST', '/v1/orders?x=1', 'req-1', 'c1']);
    assert.equal(f?.req.headers['x-request-id'], 'req-1');
    assert.equal(f?.req.headers['x-forwarded-proto'], 'http');
    assert.equal(f?.req.headers['x-cellsim-route'], undefined, 'internal headers are not sent on');
    const chunks: Buffer[] = [];
    for await (const chunk of f.req.body!) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), '{"a":1}');
    assert.equal(await metricValue(t.registry, 'cellsim_router_requests_total', { cell: 'c1', status: '201' }), 1);
    await t.app.request('/v1/orders', { headers: { 'x-market-id': 'm1', 'x-request-id': 'bad id!' } });
    assert.equal(t.forwarded[1]?.req.body, null, 'a GET has no body');
    assert.match(t.forwarded[1].req.requestId, /^[0-9a-f-]{36}$/, 'an unusable request id is replaced');
  });

  it('sends /v1/global/ paths to the global cell, and answers 503 when no cell is global', async () => {
    const t = setup();
    assert.equal((await t.app.request('/v1/global/ping')).status, 200);
    assert.equal(t.forwarded[0]?.route.cell, 'g');
    t.store.setCells(new Map([cellRecord('c1')]));
    const none = await t.app.request('/v1/global/ping');
    assert.equal(none.status, 503);
    assert.equal(none.headers.get('retry-after'), '1');
    assert.deepEqual(await none.json(), { error: { code: 'cell_unavailable', message: 'no cell is marked global' } });
  });

  it('answers bad and unknown markets, a cell missing from cells/ and a down cell itself, without the proxy', async () => {
    const t = setup();
    const cases: [Record<string, string>, number, string, string | null][] = [
      [{}, 400, 'missing_market', null],
      [{ 'x-market-id': 'SF' }, 400, 'invalid_market', null],
      [{ 'x-market-id': 'nope' }, 404, 'unknown_market', null],
      [{ 'x-market-id': 'ghost' }, 503, 'cell_unavailable', '1'],
      [{ 'x-market-id': 'moff' }, 503, 'cell_unavailable', '5'],
    ];
    for (const [headers, status, code, retryAfter] of cases) {
      const res = await t.app.request('/v1/orders', { headers: { ...headers, 'x-request-id': 'rq-9' } });
      assert.equal(res.status, status, JSON.stringify(headers));
      assert.equal(((await res.json()) as ErrorJson).error.code, code);
      assert.equal(res.headers.get('retry-after'), retryAfter);
      assert.equal(res.headers.get('x-request-id'), 'rq-9');
    }
    assert.equal(t.forwarded.length, 0);
    assert.deepEqual(
      t.lines.map((l) => l.msg),
      ['market points to a cell missing from cells/'],
    );
    assert.equal(await metricValue(t.registry, 'cellsim_router_requests_total', { cell: 'off', status: '503' }), 1);
  });

  it('waits for the table before routing, and answers 503 not_ready past readyHoldMs', async () => {
    const t = setup({ ready: false, readyHoldMs: 60 });
    const late = await t.app.request('/v1/orders', { headers: { 'x-market-id': 'm1' } });
    assert.equal(late.status, 503);
    assert.equal(late.headers.get('retry-after'), '1');
    assert.equal(((await late.json()) as ErrorJson).error.code, 'not_ready');
    const pending = t.app.request('/v1/orders', { headers: { 'x-market-id': 'm1' } });
    setTimeout(() => (t.table.ready = true), 20);
    assert.equal((await pending).status, 200);
    assert.equal(t.forwarded.length, 1);
  });

  it('holds a frozen market and forwards to the new owner after the flip', async () => {
    const t = setup();
    const pending = t.app.request('/v1/orders', { headers: { 'x-market-id': 'mf' } });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(t.forwarded.length, 0);
    t.store.applyMarkets([['mf', { cell: 'c2', state: 'active', epoch: 3 }]]);
    assert.equal((await pending).status, 200);
    assert.equal(t.forwarded[0]?.route.cell, 'c2');
  });

  it("maps the proxy's failures: its HttpError as is, an abort as 499, anything else as a logged 500 internal", async () => {
    const t = setup();
    const failures: [Error, number, string][] = [
      [new HttpError('upstream_timeout', 'cell c1 did not answer'), 504, 'upstream_timeout'],
      [Object.assign(new Error('aborted'), { name: 'AbortError' }), 499, 'bad_gateway'],
      [Object.assign(new Error('aborted'), { code: 'UND_ERR_ABORTED' }), 499, 'bad_gateway'],
      [new Error('bug'), 500, 'internal'],
    ];
    for (const [err, status, code] of failures) {
      t.proxy.answer = async () => {
        throw err;
      };
      const res = await t.app.request('/v1/orders', { headers: { 'x-market-id': 'm1' } });
      assert.equal(res.status, status, err.message);
      assert.equal(((await res.json()) as ErrorJson).error.code, code);
    }
    assert.deepEqual(
      t.lines.map((l) => [l.level, l.msg]),
      [
        ['warn', 'router answered an error'],
        ['error', 'routing failed'],
        ['warn', 'router answered an error'],
      ],
    );
    assert.equal(await metricValue(t.registry, 'cellsim_router_requests_total', { cell: 'c1', status: '499' }), 2);
  });

  it('moves a market by share: a key below the threshold goes to the target while it has a passing instance, the rest to the owner', async () => {
    const t = setup();
    const sm = { to: 'c2', header: 'x-customer-id', percent: 25 };
    t.store.applyMarkets([['msm', { cell: 'c1', state: 'active', epoch: 3, shareMove: sm }]]);
    const ep = (cell: string) => ({ id: `${cell}-1`, cell, address: '127.0.0.1', port: 1, version: 'v1', color: 'blue' as const });
    t.store.setEndpoints([ep('c1'), ep('c2')]);
    const key = (below: boolean) => {
      for (let i = 0; ; i++) if (experimentBucket(`k-${i}`) < 2500 === below) return `k-${i}`;
    };
    const cellOf = async (headers: Record<string, string>) => {
      const n = t.forwarded.length;
      const res = await t.app.request('/v1/orders', { headers: { 'x-market-id': 'msm', ...headers } });
      assert.equal(res.status, 200);
      return t.forwarded[n]?.route.cell;
    };
    assert.equal(await cellOf({ 'x-customer-id': key(true) }), 'c2');
    assert.equal(await cellOf({ 'x-customer-id': key(false) }), 'c1');
    assert.equal(await cellOf({}), 'c1', 'no key');
    assert.equal(await cellOf({ 'x-customer-id': '' }), 'c1', 'an empty key');
    t.store.setEndpoints([ep('c1')]);
    assert.equal(await cellOf({ 'x-customer-id': key(true) }), 'c1', 'the target without a passing instance: the owner keeps it');
    t.store.setEndpoints([ep('c1'), ep('c2')]);
    t.store.applyMarkets([['msm', { cell: 'c1', state: 'active', epoch: 3, shareMove: { ...sm, to: 'nowhere' } }]]);
    assert.equal(await cellOf({ 'x-customer-id': key(true) }), 'c1', 'a target missing from cells/: the owner keeps it');
  });

  it("counts a market's request as sending from its routing to the cell's answer; a held or refused one is not counted", async () => {
    const t = setup({ holdMs: 100 });
    const sending = new MarketSending();
    t.deps.sending = sending;
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    t.proxy.answer = async () => {
      await answered;
      return upstream(201, 'created');
    };
    const inFlight = t.app.request('/v1/orders', { method: 'POST', headers: { 'x-market-id': 'm1' } });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(sending.count('m1'), 1, 'on its way to the cell');
    const held = t.app.request('/v1/orders', { method: 'POST', headers: { 'x-market-id': 'mf' } });
    assert.equal((await t.app.request('/v1/orders', { headers: { 'x-market-id': 'moff' } })).status, 503);
    assert.equal(sending.count('mf') + sending.count('moff'), 0, 'a held request and a refused one send nothing');
    answer();
    assert.equal((await inFlight).status, 201);
    assert.equal(sending.count('m1'), 0, 'answered');
    assert.equal((await held).status, 503, 'the hold bound passed');
    assert.equal(sending.count('mf'), 0);
  });
});
