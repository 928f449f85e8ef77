/**
 * The router's hono app: /healthz, /readyz, /metrics, and the routing handler for /v1/*
 * (market → cell, global paths → the global cell, frozen markets held, then the proxy).
 * Every answer the router gives itself has the JSON error shape of docs/contracts.md §Error answers.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono, type Context } from 'hono';
import type { Registry } from 'prom-client';
import { HttpError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { GLOBAL_PATH_PREFIX, MARKET_HEADER, extractMarket } from '../shared/market.js';
import type { HoldQueue } from './hold/index.js';
import type { Isolation } from './isolation/index.js';
import type { RouterMetrics } from './metrics.js';
import { REQUEST_ID_HEADER, headerRecord, requestIdFrom, toHeaders, upstreamRequestHeaders, type HeaderRecord } from './proxy/headers.js';
import type { Proxy, Upstream } from './proxy/index.js';
import type { Resolver, Route } from './table/resolver.js';
import type { TableStatus } from './table/source.js';

/** What the app needs; built once by router/main.ts. */
export interface RouterDeps {
  id: string;
  resolver: Resolver;
  /** `ready` (router/table/source.ts): false until a complete table is loaded; /v1 requests wait for it. */
  table: { status(): TableStatus; readonly ready?: boolean };
  /** How long a /v1 request arriving before the table is loaded waits for it, ms [5000]. */
  readyHoldMs?: number;
  proxy: Proxy;
  isolation: Isolation;
  hold: HoldQueue;
  registry: Registry;
  /** With --workers n: every worker's metrics, aggregated (cluster-metrics.ts); else this registry's. */
  clusterMetrics?: () => Promise<string>;
  metrics: RouterMetrics;
  logger: Logger;
  /** True while the process drains for shutdown (/readyz then answers 503). */
  draining?: () => boolean;
}

type Env = { Bindings: { incoming?: IncomingMessage; outgoing?: ServerResponse } };

/** Dot segments, encoded dots/slashes and backslashes: paths that try to escape their prefix. */
const ESCAPING_PATH = /(^|\/)\.\.?(\/|$)|%2e|%2f|%5c|\\/i;

function rawPathOf(c: Context<Env>): string {
  const raw = c.env?.incoming?.url;
  if (raw !== undefined) return raw;
  const u = new URL(c.req.url);
  return `${u.pathname}${u.search}`;
}

function hasBody(method: string, headers: HeaderRecord): boolean {
  if (method === 'GET' || method === 'HEAD') return false;
  if (headers['transfer-encoding'] !== undefined) return true;
  const len = Number(headers['content-length'] ?? '0');
  return Number.isFinite(len) && len > 0;
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Streams the cell's answer straight into node's response (the hot path under @hono/node-server). */
function writeNode(up: Upstream, outgoing: ServerResponse): Response {
  outgoing.writeHead(up.status, up.headers);
  const body = up.body;
  if (!body) {
    outgoing.end();
    return RESPONSE_ALREADY_SENT;
  }
  body.pipe(outgoing);
  body.once('error', () => outgoing.destroy());
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) body.destroy();
  });
  return RESPONSE_ALREADY_SENT;
}

/** The cell's answer as a web Response (the app.request() path). */
function toResponse(up: Upstream): Response {
  return new Response(up.body ? (Readable.toWeb(up.body) as ReadableStream<Uint8Array>) : null, {
    status: up.status,
    headers: toHeaders(up.headers),
  });
}

/** Builds the router app. */
export function createRouterApp(deps: RouterDeps): Hono<Env> {
  const { resolver, hold, metrics, logger, isolation, proxy } = deps;
  const app = new Hono<Env>();
  const readyHoldMs = deps.readyHoldMs ?? 5000;

  /**
   * A request that arrives before the table is complete (a router just started: it listens
   * before the snapshot or Consul is read) waits for it instead of being told `unknown_market`
   * about a market that exists; past `readyHoldMs`, `503 not_ready` with Retry-After. Polled
   * (20 ms): nothing is left registered if the table never comes.
   */
  const untilReady = async (): Promise<void> => {
    const deadline = performance.now() + readyHoldMs;
    while (deps.table.ready === false) {
      if (performance.now() >= deadline) {
        throw new HttpError('not_ready', 'the router has not loaded its routing table yet', { headers: { 'retry-after': '1' } });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const errorAnswer = (c: Context<Env>, err: HttpError, cell: string, requestId?: string) => {
    metrics.rejected.inc({ reason: err.code });
    metrics.requests.inc({ cell, status: String(err.status) });
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    if (requestId) c.header(REQUEST_ID_HEADER, requestId);
    if (
      err.status >= 500 &&
      err.code !== 'cell_unavailable' &&
      err.code !== 'market_migrating' &&
      err.code !== 'overloaded' &&
      err.code !== 'not_ready'
    ) {
      logger.warn({ requestId, cell, code: err.code, msg: err.message }, 'router answered an error');
    }
    return c.json(err.body(), err.status as 400);
  };

  // Checked on the raw path, before routing: URL parsing would remove the dot segments.
  app.use('*', async (c: Context<Env>, next): Promise<Response | undefined> => {
    const raw = rawPathOf(c);
    const q = raw.indexOf('?');
    if (ESCAPING_PATH.test(q >= 0 ? raw.slice(0, q) : raw)) {
      return errorAnswer(c, new HttpError('invalid_request', 'path must not contain dot segments or encoded separators'), '-');
    }
    await next();
    return undefined;
  });
  app.get('/healthz', (c) => c.json({ ok: true, id: deps.id, pid: process.pid }));
  app.get('/readyz', (c) => {
    const t = deps.table.status();
    const draining = deps.draining?.() ?? false;
    const ready = t.ready && !draining;
    return c.json(
      {
        ready,
        id: deps.id,
        degraded: t.degraded,
        draining,
        source: t.source,
        table: t,
        breakers: isolation.states(),
        held: hold.size,
        routeCache: resolver.size,
      },
      ready ? 200 : 503,
    );
  });
  app.get('/metrics', async (c) => {
    deps.table.status(); // refreshes table age and degraded gauges
    let text: string | undefined;
    if (deps.clusterMetrics) {
      text = await deps.clusterMetrics().catch((err: Error) => {
        deps.logger.warn({ err: err.message }, "aggregated worker metrics unavailable; answering with this worker's own");
        return undefined;
      });
    }
    return c.body(text ?? (await deps.registry.metrics()), 200, { 'content-type': deps.registry.contentType });
  });

  app.all('/v1/*', async (c) => {
    const t0 = performance.now();
    const incoming = c.env?.incoming;
    const outgoing = c.env?.outgoing;
    // Under node, read the request from node's own objects: materialising a web Request
    // (Headers, AbortSignal, streams) costs more than the rest of the routing together.
    const headers: HeaderRecord = incoming ? incoming.headers : headerRecord(c.req.raw.headers);
    const requestId = requestIdFrom(one(headers[REQUEST_ID_HEADER]));
    const rawPath = rawPathOf(c);
    const q = rawPath.indexOf('?');
    const pathname = q >= 0 ? rawPath.slice(0, q) : rawPath;
    const method = incoming?.method ?? c.req.method;
    let cell = '-';
    try {
      if (deps.table.ready === false) await untilReady(); // no await on the hot path once ready
      let route: Route | undefined;
      if (pathname.startsWith(GLOBAL_PATH_PREFIX)) {
        route = resolver.resolveGlobal();
        if (!route) throw new HttpError('cell_unavailable', 'no cell is marked global', { headers: { 'retry-after': '1' } });
      } else {
        const ex = extractMarket(headers[MARKET_HEADER]);
        if (!ex.ok) throw new HttpError(ex.code, ex.message);
        route = resolver.resolve(ex.market);
        if (!route) throw new HttpError('unknown_market', `no cell owns market ${ex.market}`);
        if (route.state === 'frozen') route = await holdFrozen(ex.market, route, incoming ? undefined : c.req.raw.signal);
      }
      cell = route.cell;
      if (route.cellRecord === undefined) {
        logger.warn({ requestId, market: headers[MARKET_HEADER], cell }, 'market points to a cell missing from cells/');
        throw new HttpError('cell_unavailable', `cell ${cell} is not a known cell`, { headers: { 'retry-after': '1' } });
      }
      if (route.cellRecord.state === 'down') {
        throw new HttpError('cell_unavailable', `cell ${cell} is down`, { headers: { 'retry-after': '5' } });
      }
      let body: Readable | null = null;
      if (hasBody(method, headers)) {
        if (incoming) body = incoming;
        else if (c.req.raw.body) body = Readable.fromWeb(c.req.raw.body as never);
      }
      let signal: AbortSignal | EventEmitter;
      if (outgoing) {
        const ee = new EventEmitter();
        outgoing.once('close', () => {
          if (!outgoing.writableFinished) ee.emit('abort');
        });
        signal = ee;
      } else {
        signal = c.req.raw.signal;
      }
      const up = await proxy.forward(
        {
          method,
          path: rawPath,
          headers: upstreamRequestHeaders(headers, { clientIp: incoming?.socket.remoteAddress, requestId, proto: 'http' }),
          body,
          requestId,
          signal,
        },
        route,
        isolation.cell(cell),
      );
      metrics.requests.inc({ cell, status: String(up.status) });
      metrics.duration.observe({ cell }, (performance.now() - t0) / 1000);
      return outgoing ? writeNode(up, outgoing) : toResponse(up);
    } catch (err) {
      if (err instanceof HttpError) return errorAnswer(c, err, cell, requestId);
      if ((err as Error).name === 'AbortError' || (err as { code?: string }).code === 'UND_ERR_ABORTED') {
        return errorAnswer(c, new HttpError('bad_gateway', 'client went away', { status: 499 }), cell, requestId);
      }
      logger.error({ err, requestId, cell }, 'routing failed');
      return errorAnswer(c, new HttpError('internal', 'internal error'), cell, requestId);
    }
  });

  app.all('*', (c) => c.json(new HttpError('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`).body(), 404));

  app.onError((err, c) => {
    if (err instanceof HttpError) return errorAnswer(c, err, '-');
    logger.error({ err }, 'unhandled error');
    return c.json(new HttpError('internal', 'internal error').body(), 500);
  });

  /** Holds a frozen market's request until the flip or the bound; returns the new route. */
  async function holdFrozen(market: string, first: Route, signal: AbortSignal | undefined): Promise<Route> {
    const deadline = performance.now() + hold.holdMs;
    let route: Route | undefined = first;
    metrics.holdWaiting.inc();
    try {
      while (route?.state === 'frozen') {
        const result = await hold.wait(market, deadline - performance.now(), signal);
        if (result !== 'released') {
          metrics.hold.inc({ result });
          throw new HttpError('market_migrating', `market ${market} is being migrated; retry shortly`, { headers: { 'retry-after': '1' } });
        }
        route = resolver.resolve(market);
      }
      metrics.hold.inc({ result: 'released' });
      if (!route) throw new HttpError('unknown_market', `no cell owns market ${market}`);
      return route;
    } finally {
      metrics.holdWaiting.dec();
    }
  }

  return app;
}
