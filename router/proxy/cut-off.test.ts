/**
 * The proxy and a cell cut off as unreachable, on loopback: a real upstream that takes requests
 * and never answers, then stops accepting connections (as a cut host: the requests on its open
 * connections get no answer, and no new connection opens), then comes back.
 * - the request waiting at the cut is answered `504 upstream_timeout` at the cut, not at the
 *   headers timeout;
 * - no client request goes to the cell as the half-open probe until a TCP connection to it opens;
 * - a listener that accepts is never called unreachable because the router's own event loop was
 *   blocked past the connect timeout (canConnect, shared/tcp-connect.ts).
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { HttpError } from '../../shared/errors.js';
import type { Endpoint } from '../../shared/routing-table.js';
import { CellGuard } from '../isolation/index.js';
import { createRouterMetrics } from '../metrics.js';
import type { Route } from '../table/resolver.js';
import { PoolSet, Proxy, type ForwardRequest } from './index.js';
import { canConnect } from './cut-off.js';

const HEADERS_TIMEOUT_MS = 5000;
const OPEN_MS = 300;

const listen = (server: Server | ReturnType<typeof createHttpServer>, port = 0) =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

function request(method: 'GET' | 'POST'): ForwardRequest {
  const body = method === 'POST' ? Readable.from([Buffer.from('{}')]) : null;
  const headers: Record<string, string> = method === 'POST' ? { 'content-type': 'application/json', 'content-length': '2' } : {};
  return { method, path: '/v1/orders', headers, body, requestId: 'r-1' };
}

/** The code of the HttpError `p` rejects with, and how long it took. */
async function rejection(p: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const t0 = performance.now();
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HttpError, String(err));
    return { code: err.code, ms: performance.now() - t0 };
  }
  assert.fail('expected the router to answer an error');
}

describe('proxy: a cell cut off as unreachable', () => {
  const held: Socket[] = [];
  const pools = new PoolSet();
  let hung: Server | undefined;
  let back: ReturnType<typeof createHttpServer> | undefined;

  after(async () => {
    for (const s of held) s.destroy();
    hung?.close();
    back?.close();
    back?.closeAllConnections();
    await pools.close(100);
  });

  it('answers the waiting request 504 at the cut, then probes with a TCP connect before any client request', async () => {
    const received: string[] = [];
    hung = createServer((s) => {
      held.push(s);
      s.on('data', (d) => received.push(d.toString('latin1').split(' ')[0] ?? ''));
    });
    const port = await listen(hung);
    const ep: Endpoint = { id: 'cell-c-1', cell: 'cell-c', address: '127.0.0.1', port, version: 'v1', color: 'blue' };
    const route: Route = { cell: 'cell-c', state: 'active', epoch: 1, cellRecord: undefined, endpoints: [ep], generation: 1 };
    const guard = new CellGuard('cell-c', 16, { stallMs: 200, breaker: { openMs: OPEN_MS } }, createRouterMetrics(new Registry()));
    const proxy = new Proxy(pools, createRouterMetrics(new Registry()), { headersTimeoutMs: HEADERS_TIMEOUT_MS });

    const waiting = rejection(proxy.forward(request('POST'), route, guard));
    const t0 = performance.now();
    while (!received.includes('POST') && performance.now() - t0 < 2000) await sleep(5);
    assert.deepEqual(received, ['POST'], 'the request reached the cell');
    // The host is cut: the open connection stays silent and no new one opens.
    await new Promise((r) => hung!.close(r));
    const cut = await waiting;
    assert.equal(cut.code, 'upstream_timeout', 'answered 504: it may have reached the cell');
    assert.ok(cut.ms < 1500, `answered at the cut (${Math.round(cut.ms)} ms), not at the ${HEADERS_TIMEOUT_MS} ms headers timeout`);
    assert.equal(guard.breaker.state, 'open');
    assert.equal(guard.waiters.size, 0);

    const fast = await rejection(proxy.forward(request('GET'), route, guard));
    assert.equal(fast.code, 'cell_unavailable');
    assert.ok(fast.ms < 100, `${fast.ms} ms`);

    // The open period ends with the host still cut: the probe is a connect, refused; no client request goes.
    await sleep(OPEN_MS + 50);
    assert.equal((await rejection(proxy.forward(request('GET'), route, guard))).code, 'cell_unavailable');
    await sleep(50);
    assert.equal(guard.breaker.state, 'open', 'the failed connect keeps it open');

    // The host is back: the next connect probe opens a connection, and only then a client request goes.
    let requests = 0;
    let connections = 0;
    back = createHttpServer((req, res) => {
      requests += 1;
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    back.on('connection', () => (connections += 1));
    await listen(back, port);
    await sleep(OPEN_MS + 50);
    const gated = await rejection(proxy.forward(request('GET'), route, guard));
    assert.equal(gated.code, 'cell_unavailable', 'the request that finds the open period over is not the probe');
    const t1 = performance.now();
    while (connections === 0 && performance.now() - t1 < 1000) await sleep(5);
    await sleep(20);
    assert.equal(connections, 1, 'a TCP connect probed the cell');
    assert.equal(requests, 0, 'no client request reached the cell while it was probed');
    const up = await proxy.forward(request('GET'), route, guard);
    up.body?.resume();
    assert.equal(up.status, 200);
    assert.equal(guard.breaker.state, 'closed', 'the first request after the connect was the half-open probe, and closed it');
  });

  it("calls a listener that accepted reachable even when this process's loop was blocked past the connect timeout", async () => {
    const server = createServer((sock) => sock.destroy());
    const port = await listen(server);
    try {
      const ep = { id: 'busy', cell: 'cell-a', address: '127.0.0.1', port } as Endpoint;
      assert.equal(await canConnect(ep, 50), true, 'accepted on an idle loop');
      // A starved router: the loop is busy for 300 ms right after the connect starts, so the 50 ms
      // timer has expired (and timers run before the I/O poll) by the time the loop turns again.
      const connecting = canConnect(ep, 50);
      const until = Date.now() + 300;
      while (Date.now() < until) {
        /* blocked */
      }
      assert.equal(await connecting, true, 'the completed connect wins over the timer that expired meanwhile');
      // And a port nothing listens on is still not reachable.
      const gone = createServer();
      const closed = await listen(gone);
      await new Promise<void>((r) => gone.close(() => r()));
      assert.equal(await canConnect({ ...ep, port: closed }, 50), false);
    } finally {
      server.close();
    }
  });
});
