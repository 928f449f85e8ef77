/**
 * Integration: a busy cell is not a hung cell. A cell process whose event loop is blocked for
 * 2.5 s (as while it imports a big market) answers nothing — not its requests, not its health
 * check, so Consul marks it critical — yet it answers everything once free. Through the router
 * (real process, real Consul) its requests must wait and succeed, not get `503 cell_unavailable`.
 * A cell whose process answers /healthz but not its requests (hung) must still be cut off fast.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { seedKv, startEchoCell, type EchoCell } from '../../infra/harness/echo-cell.js';
import { freePort } from '../../infra/ports.js';
import { ProcessScope, waitFor } from '../../infra/process.js';
import { send, type ContractAnswer } from '../../infra/harness/routing-contract.js';
import { ConsulClient, SERVICE_CELL } from '../../shared/consul.js';
import { startRouterProcess, type RouterProcess } from '../testing.js';

const BLOCK_MS = 2500;

/** A real cell stand-in in its own process: `POST /block?ms=N` blocks its event loop for N ms after answering. */
const BUSY_CELL = `
const http = require('node:http');
http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname === '/block') {
    res.end('ok');
    const ms = Number(u.searchParams.get('ms'));
    setImmediate(() => { const until = Date.now() + ms; while (Date.now() < until); });
    return;
  }
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-cell-id': 'cell-b' });
    res.end(JSON.stringify({ cell: 'cell-b', path: u.pathname }));
  });
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

const code = (a: ContractAnswer) => (a.json as { error?: { code?: string } } | undefined)?.error?.code;

describe('busy cell vs hung cell through the router (real Consul, real processes)', () => {
  const scope = new ProcessScope();
  let consul: ConsulAgent;
  let router: RouterProcess;
  let busyPort: number;
  let hung: EchoCell;

  before(async () => {
    consul = await startConsul();
    scope.adopt(consul.proc);
    busyPort = await freePort();
    await scope.start({
      name: 'busy-cell',
      command: process.execPath,
      args: ['-e', BUSY_CELL, String(busyPort)],
      ready: { http: `http://127.0.0.1:${busyPort}/healthz`, status: 200 },
    });
    await new ConsulClient({ url: consul.url }).agent.register({
      ID: `${SERVICE_CELL}-cell-b-blue-${busyPort}`,
      Name: SERVICE_CELL,
      Address: '127.0.0.1',
      Port: busyPort,
      Meta: { cell: 'cell-b', version: 'v1', color: 'blue' },
      Check: { HTTP: `http://127.0.0.1:${busyPort}/healthz`, Interval: '1s', Timeout: '1s', Status: 'passing' },
    });
    hung = await startEchoCell({ cell: 'cell-h', consulUrl: consul.url });
    await seedKv(consul.url, { cells: { 'cell-b': {}, 'cell-h': {} }, markets: { 'm-b': { cell: 'cell-b' }, 'm-h': { cell: 'cell-h' } } });
    router = await startRouterProcess(scope, { consulUrl: consul.url });
    await waitFor(
      async () =>
        (await send(router.url, '/v1/orders', [['x-market-id', 'm-b']])).status === 200 &&
        (await send(router.url, '/v1/orders', [['x-market-id', 'm-h']])).status === 200,
      15_000,
      () => 'routing to both cells',
    );
  });

  after(async () => {
    await hung?.close().catch(() => undefined);
    await scope.close();
  });

  it('waits for a cell whose event loop is blocked (health check failing too) instead of failing its requests', async () => {
    for (let i = 0; i < 30; i++) assert.equal((await send(router.url, '/v1/orders', [['x-market-id', 'm-b']])).status, 200);
    const critical: string[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const { value: checks } = await new ConsulClient({ url: consul.url }).health.checks(SERVICE_CELL);
        for (const c of checks) if (c.ServiceID.includes('cell-b') && c.Status === 'critical') critical.push(c.Status);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await fetch(`http://127.0.0.1:${busyPort}/block?ms=${BLOCK_MS}`);
    const t0 = performance.now();
    const pending: Promise<ContractAnswer>[] = [];
    while (performance.now() - t0 < BLOCK_MS + 1000) {
      pending.push(send(router.url, '/v1/orders', [['x-market-id', 'm-b']]));
      await new Promise((r) => setTimeout(r, 50));
    }
    const answers = await Promise.all(pending);
    watching = false;
    await watch;
    const bad = answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.text.slice(0, 120)}`);
    assert.deepEqual(bad, [], `${answers.length} requests during and after a ${BLOCK_MS} ms block`);
    assert.ok(critical.length > 0, 'Consul saw the busy cell critical (its check timed out), and the router still routed to it');
  });

  it('still cuts off a cell whose process answers /healthz but never its requests (hung)', async () => {
    hung.setDelayMs(8000);
    const t0 = performance.now();
    let firstFast: number | undefined;
    while (performance.now() - t0 < 3000 && firstFast === undefined) {
      const a = await Promise.race([
        send(router.url, '/v1/orders', [['x-market-id', 'm-h']]),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
      ]);
      // requests that wait longer stay in flight (the hung cell holds them); the loop goes on
      if (a && a.status === 503 && code(a) === 'cell_unavailable') firstFast = performance.now() - t0;
    }
    hung.setDelayMs(0);
    assert.ok(firstFast !== undefined, 'the hung cell was cut off within 3 s');
    assert.ok(firstFast < 2000, `first fast 503 after ${firstFast.toFixed(0)} ms`);
  });
});
