/** Helpers for the cell's tests: an in-process cell on a temp dir, and a cell process on a free port. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../infra/ports.js';
import type { ManagedProcess, ProcessScope } from '../infra/process.js';
import { createLogger } from '../shared/logger.js';
import { createCell, type Cell } from './cell.js';
import { makeConfig, type CellConfig } from './config.js';
import type { PeerFetch } from './share-reads.js';

/** The admin token test cells use. */
export const TEST_TOKEN = 'test-admin-token';

/** A fresh temporary directory (removed by the returned cleanup). */
export function tempDir(prefix = 'cellsim-cell-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A valid order body. */
export function orderBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { customerId: 'cust-1', items: [{ sku: 'pizza', qty: 2, priceCents: 1250 }], address: '1 Main St', ...over };
}

/** An in-process test cell (real SQLite in a temp dir), not listening; `request` goes through the app. */
export interface TestCell {
  cell: Cell;
  crashes: number;
  request(method: string, path: string, init?: { headers?: Record<string, string>; body?: unknown; raw?: string }): Promise<Response>;
  close(): Promise<void>;
}

/** Creates an in-process cell with short timers; `background` starts the lease-guarded work. */
export function testCell(over: Partial<CellConfig> = {}, opts: { background?: boolean; peerFetch?: PeerFetch } = {}): TestCell {
  const tmp = over.dataDir ? undefined : tempDir();
  const config = makeConfig({
    id: 'cell-t',
    port: 0,
    dataDir: tmp?.dir ?? over.dataDir!,
    adminToken: TEST_TOKEN,
    assignDelayMs: 5,
    pickupAfterMs: 60,
    deliverAfterMs: 60,
    leaseTtlMs: 1000,
    reconcileIntervalMs: 3_600_000,
    pollMs: 5,
    ...over,
  });
  const t: TestCell = {
    cell: createCell(config, { logger: createLogger('cell-test'), onCrash: () => void t.crashes++, peerFetch: opts.peerFetch }),
    crashes: 0,
    async request(method, path, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      let body: string | undefined = init.raw;
      if (init.body !== undefined) {
        body = JSON.stringify(init.body);
        headers['content-type'] ??= 'application/json';
      }
      if (path.startsWith('/admin')) headers.authorization ??= `Bearer ${TEST_TOKEN}`;
      return t.cell.app.request(path, { method, headers, body });
    },
    async close() {
      await t.cell.close();
      tmp?.cleanup();
    },
  };
  t.cell.setReady(true);
  if (opts.background) t.cell.background.start();
  return t;
}

/** Posts an order to a cell (in process or over HTTP via `fetchLike`). */
export function postOrder(
  send: (path: string, init: RequestInit) => Promise<Response>,
  market: string,
  key: string,
  body: Record<string, unknown> = orderBody(),
): Promise<Response> {
  return send('/v1/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-market-id': market, 'idempotency-key': key },
    body: JSON.stringify(body),
  });
}

/** Polls `fn` until it returns a defined value. */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts `node bin/cellctl.js cell ...` as a real process and waits for /readyz. */
export async function startCellProcess(
  scope: ProcessScope,
  opts: { id: string; dataDir: string; port?: number; color?: 'blue' | 'green'; consul?: string; args?: string[]; name?: string },
): Promise<{ proc: ManagedProcess; url: string; port: number }> {
  const port = opts.port ?? (await freePort());
  const args = [
    'bin/cellctl.js',
    'cell',
    '--id',
    opts.id,
    '--port',
    String(port),
    '--data',
    opts.dataDir,
    '--color',
    opts.color ?? 'blue',
    ...(opts.consul ? ['--consul', opts.consul] : ['--no-consul']),
    ...(opts.args ?? []),
  ];
  const url = `http://127.0.0.1:${port}`;
  const proc = await scope.start({
    name: opts.name ?? `${opts.id}-${opts.color ?? 'blue'}`,
    command: process.execPath,
    args,
    cwd: new URL('..', import.meta.url).pathname,
    ready: { http: `${url}/readyz` },
    readyTimeoutMs: 30_000,
    env: { CELLSIM_CELL_ADMIN_TOKEN: TEST_TOKEN },
  });
  return { proc, url, port };
}

/** fetch against a base URL, with the admin token on /admin paths. */
export function client(base: string): (path: string, init?: RequestInit) => Promise<Response> {
  return (path, init = {}) => {
    const headers = new Headers(init.headers);
    if (path.startsWith('/admin') && !headers.has('authorization')) headers.set('authorization', `Bearer ${TEST_TOKEN}`);
    return fetch(`${base}${path}`, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(10_000) });
  };
}
