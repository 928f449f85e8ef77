/** The waits of a /v1 request without Consul: for the table to load, and for a frozen market's flip. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from '../../shared/errors.js';
import { cellRecord, fakeRouterDeps, metricValue } from './fakes.test-helper.js';
import { holdFrozen, untilReady } from './waits.js';

function frozenSetup(holdMs = 150) {
  const t = fakeRouterDeps({ holdMs });
  t.store.setCells(new Map([cellRecord('c1'), cellRecord('c2')]));
  t.store.applyMarkets([['mf', { cell: 'c1', state: 'frozen', epoch: 2 }]]);
  const first = t.deps.resolver.resolve('mf')!;
  return { ...t, first };
}

const isHttp = (code: string, retryAfter?: string) => (e: HttpError) => {
  assert.equal(e.code, code);
  if (retryAfter) assert.equal(e.headers['retry-after'], retryAfter);
  return true;
};

describe('router waits', () => {
  it('untilReady returns at once for a ready table (or one that does not say), and once the table loads', async () => {
    await untilReady({ status: () => ({}) as never, ready: true }, 0);
    await untilReady({ status: () => ({}) as never }, 0);
    const table = { status: () => ({}) as never, ready: false };
    setTimeout(() => (table.ready = true), 40);
    const t0 = performance.now();
    await untilReady(table, 2000);
    assert.ok(performance.now() - t0 >= 30);
  });

  it('untilReady answers 503 not_ready with Retry-After past its bound', async () => {
    const t0 = performance.now();
    await assert.rejects(untilReady({ status: () => ({}) as never, ready: false }, 60), isHttp('not_ready', '1'));
    assert.ok(performance.now() - t0 >= 55);
  });

  it('holdFrozen returns the new route once the flip comes, and counts it released', async () => {
    const t = frozenSetup();
    const held = holdFrozen(t.deps, 'mf', t.first, undefined);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await metricValue(t.registry, 'cellsim_router_hold_waiting'), 1);
    t.store.applyMarkets([['mf', { cell: 'c2', state: 'active', epoch: 3 }]]);
    const route = await held;
    assert.deepEqual([route.cell, route.state, route.epoch], ['c2', 'active', 3]);
    assert.equal(await metricValue(t.registry, 'cellsim_router_hold_total', { result: 'released' }), 1);
    assert.equal(await metricValue(t.registry, 'cellsim_router_hold_waiting'), 0);
  });

  it('holdFrozen answers 503 market_migrating past the hold bound or when the client goes, counted by result', async () => {
    const t = frozenSetup(60);
    await assert.rejects(holdFrozen(t.deps, 'mf', t.first, undefined), isHttp('market_migrating', '1'));
    assert.equal(await metricValue(t.registry, 'cellsim_router_hold_total', { result: 'timeout' }), 1);
    const gone = new AbortController();
    setTimeout(() => gone.abort(), 10);
    await assert.rejects(holdFrozen(t.deps, 'mf', t.first, gone.signal), isHttp('market_migrating'));
    assert.equal(await metricValue(t.registry, 'cellsim_router_hold_total', { result: 'aborted' }), 1);
    assert.equal(await metricValue(t.registry, 'cellsim_router_hold_waiting'), 0);
  });

  it('holdFrozen answers 404 unknown_market when the market is removed while held', async () => {
    const t = frozenSetup();
    const held = holdFrozen(t.deps, 'mf', t.first, undefined);
    await new Promise((r) => setTimeout(r, 20));
    t.store.applyMarkets([], ['mf']);
    await assert.rejects(held, isHttp('unknown_market'));
    assert.equal(await metricValue(t.registry, 'cellsim_router_hold_waiting'), 0);
  });
});
