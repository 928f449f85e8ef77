/**
 * Integration: a hung cell (accepts requests, never answers) is isolated within a second from
 * the start of the hang (drill target, issue 7), with the router's default timeouts; requests
 * already sent are neither failed nor retried elsewhere; a cell that is only slow (the
 * cell-latency drill's 600–700 ms) is not mistaken for a hung one. Real Consul, real upstreams,
 * the router as a real process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { seedKv, startEchoCell, type EchoCell } from '../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { startRouterProcess, type RouterProcess } from './testing.js';

interface Answer {
  start: number;
  ms: number;
  status: number;
  code?: string;
  retryAfter: string | null;
}

async function post(url: string, market: string): Promise<Answer> {
  const start = Date.now();
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/orders`, {
    method: 'POST',
    headers: { 'x-market-id': market, 'content-type': 'application/json' },
    body: JSON.stringify({ market, item: 'x' }),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { start, ms, status: res.status, code, retryAfter: res.headers.get('retry-after') };
}

/** Open-model load: one request for `market` every `everyMs`, not waiting for answers, for `forMs`. */
async function openLoad(url: string, market: string, everyMs: number, forMs: number): Promise<Answer[]> {
  const pending: Promise<Answer>[] = [];
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    pending.push(post(url, market));
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return Promise.all(pending);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

describe('router stall detection: a hung cell is isolated within a second (real Consul, real processes)', () => {
  const scope = new ProcessScope();
  let router: RouterProcess;
  const echo = new Map<string, EchoCell>();

  before(async () => {
    const consul = await startConsul();
    scope.adopt(consul.proc);
    for (const cell of ['cell-a', 'cell-h', 'cell-s']) echo.set(cell, await startEchoCell({ cell, consulUrl: consul.url }));
    await seedKv(consul.url, {
      cells: { 'cell-a': {}, 'cell-h': {}, 'cell-s': {} },
      markets: { 'm-a': { cell: 'cell-a' }, 'm-h': { cell: 'cell-h' }, 'm-s': { cell: 'cell-s' } },
    });
    // Default timeouts (upstream 15 s): the stall detector alone must isolate the hang.
    router = await startRouterProcess(scope, { consulUrl: consul.url });
    await waitFor(
      async () => (await post(router.url, 'm-h')).status === 200 && (await post(router.url, 'm-s')).status === 200,
      10_000,
      () => 'routing to be ready',
    );
  });

  after(async () => {
    for (const e of echo.values()) await e.close().catch(() => undefined);
    await scope.close();
  });

  it('answers a hung cell 503 cell_unavailable fast from at most 1 s after the hang starts; sent requests are not retried; other cells see no change', async () => {
    const hung = echo.get('cell-h')!;
    const receivedBefore = hung.received.length;
    const healthy = load(router.url);
    const faulted = openLoad(router.url, 'm-h', 40, 2800);
    await new Promise((r) => setTimeout(r, 500));
    const hangAt = Date.now();
    hung.setDelayMs(4000); // every request arriving from now on waits 4 s: a hang, as far as the router can tell
    const answers = await faulted;
    hung.setDelayMs(0);
    const other = await healthy;

    const beforeHang = answers.filter((a) => a.start < hangAt - 50);
    const settled = answers.filter((a) => a.start >= hangAt + 1000);
    assert.ok(beforeHang.length > 5 && settled.length > 10, `${beforeHang.length} before, ${settled.length} settled`);
    assert.ok(
      beforeHang.every((a) => a.status === 200),
      'before the hang: 200',
    );
    const notFast = settled.filter((a) => a.status !== 503 || a.code !== 'cell_unavailable' || !a.retryAfter);
    assert.deepEqual(
      notFast.map((a) => `${a.start - hangAt} ms: ${a.status} ${a.code ?? ''} in ${a.ms.toFixed(0)} ms`),
      [],
      'from 1 s after the hang: 503 cell_unavailable with Retry-After',
    );
    const settledMs = settled.map((a) => a.ms);
    assert.ok(median(settledMs) < 50, `hung-cell answers: median ${median(settledMs).toFixed(1)} ms`);
    assert.ok(Math.max(...settledMs) < 500, `no answer waited on the hung cell (max ${Math.max(...settledMs).toFixed(0)} ms)`);

    // Requests already sent to the hung cell were left alone: answered late (200), never sent twice.
    const sent = answers.filter((a) => a.status !== 503);
    assert.ok(
      sent.every((a) => a.status === 200),
      `sent requests: ${[...new Set(sent.map((a) => a.status))].join(', ')}`,
    );
    assert.equal(hung.received.length - receivedBefore, sent.length, 'each sent request reached the cell once');

    assert.ok(
      other.during.every((a) => a.status === 200),
      'the other cell: no error',
    );
    const b = median(other.before.map((a) => a.ms));
    const d = median(other.during.map((a) => a.ms));
    assert.ok(d < 3 * b + 10, `other cell median ${d.toFixed(1)} ms during vs ${b.toFixed(1)} ms before`);
  });

  it('does not mistake a slow cell (700 ms answers, the cell-latency drill) for a hung one', async () => {
    echo.get('cell-s')!.setDelayMs(700);
    const answers = await openLoad(router.url, 'm-s', 60, 2500);
    echo.get('cell-s')!.setDelayMs(0);
    const bad = answers.filter((a) => a.status !== 200);
    assert.deepEqual(
      bad.map((a) => `${a.status} ${a.code ?? ''}`),
      [],
      'every request answered 200',
    );
    assert.ok(answers.length > 30);
  });
});

/** Sequential requests to the healthy cell for 2.8 s: the first 450 ms are before the hang. */
async function load(url: string): Promise<{ before: Answer[]; during: Answer[] }> {
  const before: Answer[] = [];
  const during: Answer[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < 2800) {
    const a = await post(url, 'm-a');
    (Date.now() - t0 < 450 ? before : during).push(a);
    await new Promise((r) => setTimeout(r, 10));
  }
  return { before, during };
}
