/**
 * Integration: failure isolation and bad input against the router as a real process, with
 * real Consul and real upstream cells. Latency is asserted, not only status.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../infra/harness/consul.js';
import { seedKv, startEchoCell, type EchoCell } from '../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { send, type ContractAnswer } from '../infra/harness/routing-contract.js';
import { startRouterProcess, type RouterProcess } from './testing.js';

const market = (url: string, m: string) => send(url, '/v1/orders', [['x-market-id', m]]);
const code = (a: ContractAnswer) => (a.json as { error?: { code?: string } } | undefined)?.error?.code;

function p(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

/** Sends requests for `m` from `conc` loops until `stop()`; returns the latencies and statuses. */
function load(url: string, m: string, conc: number) {
  const lat: number[] = [];
  const statuses: number[] = [];
  let running = true;
  const loops = Array.from({ length: conc }, async () => {
    while (running) {
      const a = await market(url, m);
      lat.push(a.ms);
      statuses.push(a.status);
    }
  });
  return {
    lat,
    statuses,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** A raw HTTP request (the path is sent as is, headers as given). */
function raw(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('router failure isolation and bad input (real Consul, real processes)', () => {
  const scope = new ProcessScope();
  let consul: ConsulAgent;
  let router: RouterProcess;
  const echo = new Map<string, EchoCell>();

  before(async () => {
    consul = await startConsul();
    scope.adopt(consul.proc);
    for (const cell of ['cell-a', 'cell-b', 'cell-h']) echo.set(cell, await startEchoCell({ cell, consulUrl: consul.url }));
    await seedKv(consul.url, {
      cells: { 'cell-a': {}, 'cell-b': {}, 'cell-h': {}, 'cell-empty': {} },
      markets: { 'm-a': { cell: 'cell-a' }, 'm-b': { cell: 'cell-b' }, 'm-h': { cell: 'cell-h' }, 'm-empty': { cell: 'cell-empty' } },
    });
    router = await startRouterProcess(scope, {
      consulUrl: consul.url,
      extraArgs: ['--max-inflight-per-cell', '20', '--upstream-timeout', '1500'],
    });
    await waitFor(
      async () => (await market(router.url, 'm-h')).status === 200,
      10_000,
      () => 'routing to be ready',
    );
  });

  after(async () => {
    for (const e of echo.values()) await e.close().catch(() => undefined);
    await scope.close();
  });

  it('answers 503 cell_unavailable fast for a cell with zero instances', async () => {
    // compared with a healthy cell measured interleaved (the machine is shared)
    const empty: number[] = [];
    const healthy: number[] = [];
    for (let i = 0; i < 20; i++) {
      const a = await market(router.url, 'm-empty');
      assert.equal(a.status, 503);
      assert.equal(code(a), 'cell_unavailable');
      assert.ok(a.headers['retry-after']);
      empty.push(a.ms);
      healthy.push((await market(router.url, 'm-b')).ms);
    }
    assert.ok(p(empty, 0.5) <= p(healthy, 0.5) + 2, `median ${p(empty, 0.5).toFixed(1)} ms vs healthy ${p(healthy, 0.5).toFixed(1)} ms`);
  });

  it('refuses a path escaping with dot segments, oversized headers, and never reaches a cell', async () => {
    const before = [...echo.values()].reduce((n, e) => n + e.received.length, 0);
    for (const path of ['/v1/../admin/faults', '/v1/global/../orders', '/v1/orders/%2e%2e/x']) {
      const r = await raw(router.port, path, { 'x-market-id': 'm-a' });
      assert.equal(r.status, 400, path);
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'invalid_request');
    }
    const big = await raw(router.port, '/v1/orders', { 'x-market-id': 'm-a', 'x-filler': 'x'.repeat(20_000) });
    assert.equal(big.status, 431);
    assert.equal((JSON.parse(big.body) as { error: { code: string } }).error.code, 'headers_too_large');
    assert.equal(
      [...echo.values()].reduce((n, e) => n + e.received.length, 0),
      before,
    );
  });

  it('bounds a hanging cell: excess requests get 503 overloaded at once, other cells see no change in latency', async () => {
    // The machine is shared (2 cores): compare medians of sequential requests before and during the hang.
    const sample = async (m: string, n: number) => {
      const out: ContractAnswer[] = [];
      for (let i = 0; i < n; i++) out.push(await market(router.url, m));
      return out;
    };
    const before = await sample('m-b', 60);
    echo.get('cell-h')!.setDelayMs(5000);
    const hung = Array.from({ length: 20 }, () => market(router.url, 'm-h'));
    await new Promise((r) => setTimeout(r, 200));
    const extra = await sample('m-h', 20);
    const during = await sample('m-b', 60);
    const answers = await Promise.all(hung);
    echo.get('cell-h')!.setDelayMs(0);
    assert.ok(
      answers.every((a) => a.status === 504),
      'the cell bound (20) let 20 through; they timed out (--upstream-timeout 1500)',
    );
    assert.ok(
      extra.every((a) => a.status === 503 && code(a) === 'overloaded' && a.headers['retry-after']),
      'past the bound: 503 overloaded',
    );
    const ms = (xs: ContractAnswer[]) => xs.map((a) => a.ms);
    assert.ok(p(ms(extra), 0.5) < 50, `overloaded answers took ${p(ms(extra), 0.5).toFixed(1)} ms (median) while the cell hangs for 5 s`);
    assert.deepEqual(
      during.filter((a) => a.status !== 200).map((a) => `${a.status} ${code(a) ?? ''} after ${a.ms.toFixed(0)} ms`),
      [],
      'm-b answered 200 throughout the hang of cell-h',
    );
    const b50 = p(ms(before), 0.5);
    const d50 = p(ms(during), 0.5);
    assert.ok(d50 < 2 * b50 + 5, `m-b median ${d50.toFixed(2)} ms during vs ${b50.toFixed(2)} ms before`);
  });

  it('kills a cell: its markets answer 503 cell_unavailable in a few ms, other cells unaffected', async () => {
    // The machine is shared (2 cores): latencies are compared with a healthy cell's, measured interleaved.
    const baseline = load(router.url, 'm-b', 2);
    await new Promise((r) => setTimeout(r, 500));
    await baseline.stop();
    const during = load(router.url, 'm-b', 2);
    await echo.get('cell-a')!.kill();
    const dead: ContractAnswer[] = [];
    const healthy: ContractAnswer[] = [];
    for (let i = 0; i < 150; i++) {
      dead.push(await market(router.url, 'm-a'));
      healthy.push(await market(router.url, 'm-b'));
    }
    await during.stop();
    assert.ok(dead.every((a) => a.status === 503 && code(a) === 'cell_unavailable' && a.headers['retry-after']));
    assert.ok(healthy.every((a) => a.status === 200) && during.statuses.every((s) => s === 200), 'no error on the other cell');
    const deadMs = dead.slice(10).map((a) => a.ms);
    const okMs = healthy.slice(10).map((a) => a.ms);
    assert.ok(
      p(deadMs, 0.5) <= p(okMs, 0.5) + 1,
      `dead-cell p50 ${p(deadMs, 0.5).toFixed(2)} ms, healthy p50 ${p(okMs, 0.5).toFixed(2)} ms`,
    );
    assert.ok(
      p(deadMs, 0.95) <= p(okMs, 0.95) + 5,
      `dead-cell p95 ${p(deadMs, 0.95).toFixed(2)} ms vs healthy ${p(okMs, 0.95).toFixed(2)} ms`,
    );
    assert.ok(Math.max(...deadMs) < 500, 'no dead-cell answer waited on the dead cell');
    // p90 of ~1 s of closed-loop load each: a p99 of so few samples is one preempted request on
    // a shared machine
    const p90b = p(baseline.lat, 0.9);
    const p90d = p(during.lat, 0.9);
    assert.ok(p90d < 3 * p90b + 20, `m-b p90 ${p90d.toFixed(2)} ms during vs ${p90b.toFixed(2)} ms before`);
  });

  it('closes the breaker again when the cell comes back (half-open probe)', async () => {
    const back = await startEchoCell({ cell: 'cell-a', consulUrl: consul.url });
    echo.set('cell-a2', back);
    await waitFor(
      async () => (await market(router.url, 'm-a')).status === 200,
      15_000,
      () => 'cell-a to serve again',
    );
    const metrics = await (await fetch(`${router.url}/metrics`)).text();
    assert.match(metrics, /cellsim_router_breaker_state\{cell="cell-a"[^}]*\} 0/);
  });
});
