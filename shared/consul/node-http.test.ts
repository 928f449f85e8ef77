/**
 * The node:http transport against a real local HTTP server: status, headers and a streamed body;
 * the headers timeout, the timeout between body chunks, and cancellation.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { nodeHttpTransport } from './node-http.js';
import type { ConsulRequest } from './transport.js';

let server: Server;
let base: string;
const send = nodeHttpTransport();
const get = (path: string, o: Partial<ConsulRequest>) =>
  send({ method: 'GET', url: `${base}${path}`, headers: {}, headersTimeoutMs: 1000, bodyTimeoutMs: 1000, ...o });

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/ok') {
      res.writeHead(200, { 'x-consul-index': '42', 'content-type': 'application/json' });
      res.write('["a",');
      setTimeout(() => res.end('"b"]'), 20);
    } else if (req.url === '/silent') {
      // never answers
    } else if (req.url === '/stalls') {
      res.writeHead(200);
      res.write('["a"'); // and nothing more
    } else {
      res.writeHead(404);
      res.end('not here');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

describe('nodeHttpTransport', () => {
  it('answers status, headers and the body as it streams in', async () => {
    const res = await get('/ok', {});
    assert.equal(res.status, 200);
    assert.equal(res.header('x-consul-index'), '42');
    const chunks: string[] = [];
    for await (const c of res.body) chunks.push(Buffer.from(c).toString());
    assert.equal(chunks.join(''), '["a","b"]');
    assert.ok(chunks.length >= 2, 'streamed as it arrived');
    const again = await get('/missing', {});
    assert.equal(again.status, 404);
    assert.equal(await again.body.text(), 'not here');
  });

  it('fails when no headers come within the headers timeout', async () => {
    const t0 = performance.now();
    await assert.rejects(get('/silent', { headersTimeoutMs: 150 }), /no answer within 150 ms/);
    assert.ok(performance.now() - t0 < 1000);
  });

  it('fails a body that stalls longer than the body timeout', async () => {
    const res = await get('/stalls', { bodyTimeoutMs: 150 });
    await assert.rejects(res.body.text(), /stalled for 150 ms/);
  });

  it('is cancelled by its signal while it waits', async () => {
    const ac = new AbortController();
    const pending = get('/silent', { signal: ac.signal, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(pending, (err: Error) => err.name === 'AbortError');
  });
});
