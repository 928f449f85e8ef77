/**
 * A real HTTP upstream that stands in for a cell in router and xDS tests: answers every path
 * with JSON naming its cell and echoing what it received, registers itself in Consul as
 * `cellsim-cell` (meta cell/version/color) with an HTTP check on /readyz, and can be made
 * unhealthy, slow, hanging or dead on demand.
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { consulAuth } from './consul.js';

/**
 * The cells' Consul service name (docs/contracts.md §Consul services), stated here as the contract says it: the test
 * kit imports no product code (echo-cell.test.ts checks it against shared/'s constant).
 */
export const CELL_SERVICE = 'cellsim-cell';

/** The header Envoy's cell routes add (docs/contracts.md §Request contract), as the contract says it (checked as above). */
export const EDGE_REDIRECT_HEADER = 'x-cellsim-edge-redirect';

/** What an echo cell answers. */
export interface EchoReply {
  cell: string;
  color: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A running echo cell. */
export interface EchoCell {
  cell: string;
  port: number;
  serviceId: string;
  /** Requests received so far. */
  readonly received: EchoReply[];
  /** Makes /readyz answer 503 (Consul's check turns critical) or 200. */
  setHealthy(ok: boolean): void;
  /** Adds latency to every non-health request. */
  setDelayMs(ms: number): void;
  /** Answers every non-health request with this status (0 = normal). */
  setFailStatus(status: number): void;
  /** Names this cell in an `x-cell-id` answer header, as a real cell does (undefined = no header, the default). */
  setCellId(id: string | undefined): void;
  /**
   * Answers requests for these markets as a real cell answers a write to a market frozen under it
   * (cells/http/frozen-release.ts, docs/contracts.md §Request contract): `307` to the same URL when
   * Envoy's cell route marked the request (`x-cellsim-edge-redirect: 307`) and has not redirected it
   * yet (no `x-envoy-original-url`), else `409 market_frozen`. Checked after the delay, as a cell
   * checks inside its write.
   */
  setFrozenMarkets(markets: string[]): void;
  /** Closes the server at once, dropping open connections (a crash). */
  kill(): Promise<void>;
  /** Deregisters from Consul and closes. */
  close(): Promise<void>;
}

/** Starts an echo cell on a free port; registers it in Consul when `consulUrl` is given. */
export async function startEchoCell(opts: {
  cell: string;
  consulUrl?: string;
  color?: 'blue' | 'green';
  version?: string;
  checkInterval?: string;
}): Promise<EchoCell> {
  const color = opts.color ?? 'blue';
  let healthy = true;
  let delayMs = 0;
  let failStatus = 0;
  let cellId: string | undefined;
  let frozen = new Set<string>();
  const received: EchoReply[] = [];
  const app = new Hono();
  app.get('/readyz', (c) => (healthy ? c.json({ ready: true }) : c.json({ ready: false }, 503)));
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.all('*', async (c) => {
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((v, k) => (headers[k] = v));
    const reply: EchoReply = {
      cell: opts.cell,
      color,
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      headers,
      body: await c.req.text(),
    };
    received.push(reply);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (cellId !== undefined) c.header('x-cell-id', cellId);
    if (frozen.has(headers['x-market-id'] ?? '')) {
      const proto = headers['x-forwarded-proto'];
      if (headers[EDGE_REDIRECT_HEADER] === '307' && headers['x-envoy-original-url'] === undefined && proto && headers.host) {
        const url = new URL(c.req.url);
        return c.body(null, 307, { location: `${proto}://${headers.host}${url.pathname}${url.search}` });
      }
      return c.json({ error: { code: 'market_frozen', message: 'echo cell told the market is frozen' } }, 409, { 'retry-after': '1' });
    }
    if (failStatus > 0) return c.json({ error: { code: 'internal', message: 'echo cell told to fail' } }, failStatus as 500);
    return c.json(reply, 200, { 'x-upstream-cell': opts.cell });
  });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  const serviceId = `${CELL_SERVICE}-${opts.cell}-${color}-${port}`;
  if (opts.consulUrl) {
    const res = await fetch(`${opts.consulUrl}/v1/agent/service/register`, {
      method: 'PUT',
      headers: consulAuth(),
      body: JSON.stringify({
        ID: serviceId,
        Name: CELL_SERVICE,
        Address: '127.0.0.1',
        Port: port,
        Meta: { cell: opts.cell, version: opts.version ?? 'v1', color },
        Check: {
          HTTP: `http://127.0.0.1:${port}/readyz`,
          Interval: opts.checkInterval ?? '1s',
          Timeout: '1s',
          DeregisterCriticalServiceAfter: '1m',
          // Listening already, so passing from the start, as a real cell registers
          // (cells/register.ts): no window in which a data plane sees the cell with no instance.
          Status: 'passing',
        },
      }),
    });
    if (!res.ok) throw new Error(`consul register failed: ${res.status} ${await res.text()}`);
  }
  const closeServer = () =>
    new Promise<void>((resolve) => {
      const s = server as unknown as { closeAllConnections?: () => void; close: (cb: () => void) => void };
      s.close(() => resolve());
      s.closeAllConnections?.();
    });
  return {
    cell: opts.cell,
    port,
    serviceId,
    received,
    setHealthy: (ok) => void (healthy = ok),
    setDelayMs: (ms) => void (delayMs = ms),
    setFailStatus: (s) => void (failStatus = s),
    setCellId: (id) => void (cellId = id),
    setFrozenMarkets: (markets) => void (frozen = new Set(markets)),
    kill: closeServer,
    async close() {
      if (opts.consulUrl)
        await fetch(`${opts.consulUrl}/v1/agent/service/deregister/${serviceId}`, { method: 'PUT', headers: consulAuth() }).catch(
          () => undefined,
        );
      await closeServer();
    },
  };
}

/** Writes a cell record and market records straight into Consul KV (as an operator script would). */
export async function seedKv(
  consulUrl: string,
  data: {
    cells?: Record<
      string,
      {
        canary?: boolean;
        global?: boolean;
        capacity?: number;
        version?: string;
        state?: string;
        activeColor?: string;
        shift?: { color: string; percent: number };
      }
    >;
    markets?: Record<
      string,
      {
        cell: string;
        state?: string;
        epoch?: number;
        experiment?: { header: string; color: string; percent: number };
        shareMove?: { to: string; header: string; percent: number };
      }
    >;
  },
  prefix = 'cellsim/',
): Promise<void> {
  const ops: { KV: { Verb: string; Key: string; Value: string } }[] = [];
  for (const [id, c] of Object.entries(data.cells ?? {})) {
    const rec = {
      id,
      state: c.state ?? 'active',
      canary: c.canary ?? false,
      global: c.global ?? false,
      capacity: c.capacity ?? 100,
      version: c.version ?? 'v1',
      ...(c.activeColor ? { activeColor: c.activeColor } : {}),
      ...(c.shift ? { shift: c.shift } : {}),
    };
    ops.push({ KV: { Verb: 'set', Key: `${prefix}cells/${id}`, Value: Buffer.from(JSON.stringify(rec)).toString('base64') } });
  }
  for (const [m, r] of Object.entries(data.markets ?? {})) {
    ops.push({
      KV: {
        Verb: 'set',
        Key: `${prefix}markets/${m}`,
        Value: Buffer.from(
          JSON.stringify({
            cell: r.cell,
            state: r.state ?? 'active',
            epoch: r.epoch ?? 1,
            ...(r.experiment ? { experiment: r.experiment } : {}),
            ...(r.shareMove ? { shareMove: r.shareMove } : {}),
          }),
        ).toString('base64'),
      },
    });
  }
  // Consul transactions take at most 64 operations.
  for (let i = 0; i < ops.length; i += 64) {
    const res = await fetch(`${consulUrl}/v1/txn`, { method: 'PUT', headers: consulAuth(), body: JSON.stringify(ops.slice(i, i + 64)) });
    if (!res.ok) throw new Error(`consul txn failed: ${res.status} ${await res.text()}`);
  }
}
