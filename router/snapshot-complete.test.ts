/**
 * Integration: the snapshot is a complete table or nothing. With Consul answering cells and
 * endpoints but not yet markets (held by a pass-through proxy in front of a real Consul), no
 * snapshot is written — one would hold a table without markets, which a restart would load as
 * complete and answer `404 unknown_market` from. Once markets arrive, it is written whole.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { seedKv, startEchoCell } from '../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { startRouterProcess } from './testing.js';

/** A pass-through proxy to Consul that holds market listings until `release()`. */
async function marketsGate(consulUrl: string): Promise<{ url: string; release(): void; held: () => number; close(): Promise<void> }> {
  const target = new URL(consulUrl);
  let open = false;
  const waiting: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const forward = () => {
      const up = httpRequest(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (!open && (req.url ?? '').startsWith('/v1/kv/cellsim/markets')) waiting.push(forward);
    else forward();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    release() {
      open = true;
      for (const f of waiting.splice(0)) f();
    },
    held: () => waiting.length,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

describe('router snapshot completeness (real Consul, real processes)', () => {
  it('writes no snapshot while markets are not loaded, and a whole one once they are', async () => {
    const scope = new ProcessScope();
    await scope.run(async () => {
      const consul = await startConsul();
      scope.adopt(consul.proc);
      const echo = await startEchoCell({ cell: 'cell-a', consulUrl: consul.url });
      const gate = await marketsGate(consul.url);
      try {
        await seedKv(consul.url, { cells: { 'cell-a': {} }, markets: { 'm-1': { cell: 'cell-a' }, 'm-2': { cell: 'cell-a' } } });
        const snapshot = join(mkdtempSync(join(tmpdir(), 'router-snap-complete-')), 'table.json');
        // --ready-wait 200: it listens (not ready) although markets never come, so /readyz can be read.
        const router = await startRouterProcess(scope, {
          consulUrl: gate.url,
          snapshot,
          waitReady: false,
          extraArgs: ['--ready-wait', '200'],
        });
        await waitFor(
          async () => {
            const r = (await (await fetch(`${router.url}/readyz`)).json()) as { table: { cells: number } };
            return r.table.cells === 1 && gate.held() > 0;
          },
          15_000,
          () => 'cells loaded while markets are held',
        );
        await new Promise((r) => setTimeout(r, 1500)); // well past the 100 ms snapshot debounce
        assert.equal(existsSync(snapshot), false, 'no snapshot of a table without markets');
        assert.equal((await fetch(`${router.url}/readyz`)).status, 503, 'not ready without markets');

        gate.release();
        await waitFor(
          async () => (await fetch(`${router.url}/readyz`)).status === 200,
          15_000,
          () => 'ready once markets arrive',
        );
        await waitFor(
          async () => existsSync(snapshot),
          10_000,
          () => 'snapshot written',
        );
        const snap = JSON.parse(readFileSync(snapshot, 'utf8')) as { markets: unknown[]; cells: unknown[]; endpoints: unknown[] };
        assert.equal(snap.markets.length, 2);
        assert.equal(snap.cells.length, 1);
      } finally {
        await gate.close();
        await echo.close();
      }
    });
  });
});
