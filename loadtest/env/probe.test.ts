import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { probeOnce, watchReachable } from './probe.js';

async function listen(handler: Parameters<typeof createServer>[1] = (_q, s) => s.writeHead(404).end()): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
const urlOf = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/`;
const close = (s: Server) =>
  new Promise<void>((resolve) => {
    s.closeAllConnections();
    s.close(() => resolve());
  });

describe('component probes', () => {
  it('counts any HTTP status as answered, a closed port as unanswered (ECONNREFUSED)', async () => {
    const server = await listen();
    const url = urlOf(server);
    // A generous bound: the first fetch of a process on a loaded machine can take a while.
    const up = await probeOnce(url, 5000);
    assert.deepEqual([up.answered, up.detail], [true, 'HTTP 404']);
    await close(server);
    const down = await probeOnce(url);
    assert.equal(down.answered, false);
    assert.equal(down.detail, 'ECONNREFUSED');
  });

  it('counts a port that accepts but never answers as unanswered (timeout)', async () => {
    const server = await listen(() => undefined);
    try {
      const p = await probeOnce(urlOf(server), 200);
      assert.deepEqual([p.answered, p.detail], [false, 'timeout']);
    } finally {
      await close(server);
    }
  });

  it('watches until stopped: answered while up, unanswered once the server is gone', async () => {
    const server = await listen();
    await probeOnce(urlOf(server), 5000); // the process's first fetch, out of the timed loop
    const watch = watchReachable(urlOf(server), { intervalMs: 50, timeoutMs: 1000 });
    await new Promise((r) => setTimeout(r, 500));
    await close(server);
    await new Promise((r) => setTimeout(r, 300));
    const probes = await watch.stop();
    const answered = probes.map((p) => p.answered);
    assert.ok(answered.length >= 2, JSON.stringify(probes));
    assert.equal(answered[0], true);
    assert.equal(answered.at(-1), false);
    assert.ok(
      probes.every((p, i) => i === 0 || p.at >= probes[i - 1]!.at),
      'in order',
    );
    const count = probes.length;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(probes.length, count, 'no probe after stop');
  });
});
