/**
 * Integration: a router that has just started must not answer from a partial table (the
 * router-replica-kill drill saw `404 unknown_market` from a restarted replica): it refuses
 * connections until its table is complete, so a load balancer (which sends as soon as the port
 * answers) goes to another replica; if no table comes within --ready-wait it listens anyway and
 * answers `503 not_ready`, never `unknown_market` about a market it has not read. Real Consul,
 * real upstream, the router as a real process.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { seedKv, startEchoCell } from '../infra/harness/echo-cell.js';
import { freePort } from '../infra/ports.js';
import { ProcessScope } from '../infra/process.js';
import { startRouterProcess } from './testing.js';

interface Answer {
  start: number;
  ms: number;
  status: number;
  code?: string;
  retryAfter: string | null;
}

async function get(url: string, market: string): Promise<Answer> {
  const start = Date.now();
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/orders`, { headers: { 'x-market-id': market } });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { start, ms: performance.now() - t0, status: res.status, code, retryAfter: res.headers.get('retry-after') };
}

describe('router readiness: no answer from a partial table (real Consul, real processes)', () => {
  it('refuses connections until the table is complete, then routes every request: no 404 for a known market', async () => {
    const scope = new ProcessScope();
    await scope.run(async () => {
      const consul = await startConsul();
      scope.adopt(consul.proc);
      const echo = await startEchoCell({ cell: 'cell-a', consulUrl: consul.url });
      try {
        await seedKv(consul.url, { cells: { 'cell-a': {} }, markets: { 'm-1': { cell: 'cell-a' }, 'm-2': { cell: 'cell-a' } } });
        // Traffic starts the moment the process is spawned, as a load balancer would send.
        const port = await freePort();
        const url = `http://127.0.0.1:${port}`;
        let up = false;
        const starting = startRouterProcess(scope, { consulUrl: consul.url, port }).then((r) => ((up = true), r));
        let refused = 0;
        const answers: Answer[] = [];
        let firstAnswerAt: number | undefined;
        const t0 = Date.now();
        while ((!up || answers.length < 20) && Date.now() - t0 < 40_000) {
          try {
            const a = await get(url, answers.length % 2 === 0 ? 'm-1' : 'm-2');
            firstAnswerAt ??= a.start;
            answers.push(a);
          } catch {
            refused += 1; // connection refused: a load balancer sends it to another replica
            await new Promise((r) => setTimeout(r, 20));
          }
        }
        await starting;
        assert.ok(refused > 0, 'connections were refused while the table loaded');
        const ready = await fetch(`${url}/readyz`);
        assert.equal(ready.status, 200);
        assert.deepEqual(
          answers.filter((a) => a.status !== 200).map((a) => `${a.start - (firstAnswerAt ?? 0)} ms: ${a.status} ${a.code ?? ''}`),
          [],
          'from the first answer on, every request routed to the owner',
        );
      } finally {
        await echo.close();
      }
    });
  });

  it('answers 503 not_ready with Retry-After, not 404 unknown_market, when no table can be loaded (Consul unreachable, no snapshot)', async () => {
    const scope = new ProcessScope();
    await scope.run(async () => {
      const nowhere = `http://127.0.0.1:${await freePort()}`;
      const router = await startRouterProcess(scope, { consulUrl: nowhere, waitReady: false, extraArgs: ['--ready-wait', '300'] });
      assert.equal((await fetch(`${router.url}/readyz`)).status, 503);
      const a = await get(router.url, 'm-1');
      assert.equal(a.status, 503);
      assert.equal(a.code, 'not_ready');
      assert.ok(a.retryAfter);
      assert.ok(a.ms >= 4500 && a.ms < 8000, `held ${a.ms.toFixed(0)} ms (bound 5 s)`);
    });
  });
});
