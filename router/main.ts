/**
 * The wiring map of one router process: store, table source (worker thread), resolver, hold,
 * isolation, proxy, hono app, HTTP server, Consul registration, graceful shutdown.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { errorBody } from '../shared/errors.js';
import { watchTls } from '../shared/pki/reload.js';
import type { TlsFiles } from '../shared/pki/names.js';
import { DEFAULT_PREFIX } from '../shared/kv.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import { RoutingStore } from '../shared/routing-store.js';
import { HoldQueue } from './hold/index.js';
import { Isolation, type IsolationOptions } from './isolation/index.js';
import { createRouterMetrics } from './metrics.js';
import { PoolSet, Proxy } from './proxy/index.js';
import { keepRegistered, type Registration } from './registration.js';
import { createRouterApp } from './server.js';
import { Resolver } from './table/resolver.js';
import { TableSource } from './table/source.js';
import { runsBundled } from '../shared/bundled.js';
import { clusterMetricsText } from './cluster-metrics.js';
import { clusterViews } from './cluster-views.js';
import { MarketSending, marketView } from './http/market-view.js';

/** Options of {@link startRouter} (CLI flags map onto these). */
export interface RouterOptions {
  port: number;
  host?: string;
  consulUrl: string;
  prefix?: string;
  snapshotPath?: string;
  /** Old-generation heap limit of the table worker, MB [512] (see table/source.ts). */
  tableHeapMb?: number;
  holdMs?: number;
  id?: string;
  /** A node:cluster worker of `--workers n`: /metrics answers for every worker (cluster-metrics.ts). */
  clusterWorker?: boolean;
  /** Register in Consul from this process (false in cluster workers: the primary does). */
  register?: boolean;
  upstreamTimeoutMs?: number;
  maxInflightPerCell?: number;
  /** Max cached routes. */
  routeCacheMax?: number;
  /** Max request header bytes (431 headers_too_large above it) [16384]. */
  maxHeaderBytes?: number;
  /**
   * At start, how long to wait for a complete table before listening, ms [30,000]. Until then
   * connections are refused, so a load balancer sends them to another replica instead of this
   * one answering from a partial table; past it the router listens anyway (/readyz 503).
   */
  readyWaitMs?: number;
  /** How long a /v1 request waits for the table when it is still not loaded, ms [5000]. */
  readyHoldMs?: number;
  isolation?: IsolationOptions;
  /** Mutual TLS to the cells with these files (router/proxy/pools.ts); undefined = plain HTTP. */
  upstreamTls?: TlsFiles;
  /** Serve HTTPS on the router's port with the certificate and key of `upstreamTls` (`--edge-tls`). */
  edgeTls?: boolean;
  /** The token `GET /route` asks for (`router-admin`: the control plane's freeze barrier); none: /route answers 401. */
  routeViewToken?: string;
  /** Drill sabotage only (router/sabotage.ts): route every market to this cell. */
  routeEveryMarketTo?: string;
  logger?: Logger;
}

/** A running router. */
export interface RunningRouter {
  port: number;
  url: string;
  /** Drains in-flight requests (up to `graceMs`) and stops everything. */
  close(graceMs?: number): Promise<void>;
}

/**
 * The answer to an error @hono/node-server raises outside the app: `400 invalid_request` for a
 * request it refuses to build (its RequestError: a backslash in the path, a missing or bad host),
 * else `500 internal`; both in the contract's JSON.
 */
function requestErrorAnswer(err: unknown): Response {
  const refused = err instanceof Error && err.name === 'RequestError';
  const body = refused
    ? errorBody('invalid_request', 'malformed request target or host header (e.g. a backslash in the path)')
    : errorBody('internal', 'internal error');
  return new Response(JSON.stringify(body), { status: refused ? 400 : 500, headers: { 'content-type': 'application/json' } });
}

function rawAnswer(status: string, body: string): string {
  return `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** Starts one router process's server; resolves once it listens (readiness follows the table). */
export async function startRouter(opts: RouterOptions): Promise<RunningRouter> {
  const id = opts.id ?? `router-${opts.port}`;
  const host = opts.host ?? '127.0.0.1';
  const logger = opts.logger ?? createLogger('router', { router: id });
  const registry = createRegistry('router');
  const metrics = createRouterMetrics(registry);
  const store = new RoutingStore();
  const resolver = new Resolver(store, metrics, { max: opts.routeCacheMax, everyMarketTo: opts.routeEveryMarketTo });
  const hold = new HoldQueue({ holdMs: opts.holdMs ?? 2000 });
  // One watch of the files serves the pools and the edge: a rotation needs no restart (docs/tls.md §Rotation without restarts).
  const tls = opts.upstreamTls ? watchTls(opts.upstreamTls, { logger }) : undefined;
  const pools = new PoolSet({ tls });
  const isolation = new Isolation({ maxInflightPerCell: opts.maxInflightPerCell, ...opts.isolation }, metrics);
  store.onChange((change) => {
    if (change.kind === 'markets') for (const m of change.ids) hold.release(m);
    else pools.retain(store.allEndpoints);
  });
  const table = new TableSource(store, {
    consulUrl: opts.consulUrl,
    prefix: opts.prefix ?? DEFAULT_PREFIX,
    snapshotPath: opts.snapshotPath,
    tableHeapMb: opts.tableHeapMb,
    logger,
    metrics,
  });
  table.start();
  // cluster workers: keep the table gauges current for scrapes answered by another worker
  if (opts.clusterWorker) setInterval(() => table.status(), 1000).unref();
  // Listen once the table is complete (see readyWaitMs); the timer also keeps the process alive meanwhile.
  let readyTimer: NodeJS.Timeout | undefined;
  const waited = await Promise.race([
    table.whenReady().then(() => true),
    new Promise<boolean>((r) => (readyTimer = setTimeout(() => r(false), opts.readyWaitMs ?? 30_000))),
  ]);
  clearTimeout(readyTimer);
  if (!waited) logger.warn({ waitedMs: opts.readyWaitMs ?? 30_000 }, 'no complete routing table yet; listening anyway (not ready)');
  const proxy = new Proxy(pools, metrics, { headersTimeoutMs: opts.upstreamTimeoutMs, logger });
  let draining = false;
  // GET /route: this process's view of a market, or every worker's (a migration's freeze barrier).
  const sending = new MarketSending();
  const marketViews = opts.clusterWorker ? clusterViews((m) => marketView({ resolver, table, sending }, m)) : undefined;
  const app = createRouterApp({
    id,
    resolver,
    table,
    readyHoldMs: opts.readyHoldMs,
    proxy,
    isolation,
    hold,
    registry,
    clusterMetrics: opts.clusterWorker ? clusterMetricsText(registry) : undefined,
    metrics,
    logger,
    draining: () => draining,
    sending,
    marketViews,
    routeViewToken: opts.routeViewToken,
  });

  let inflight = 0;
  const server = await new Promise<Server>((resolve, reject) => {
    // @hono/node-server's listener (as its serve() builds it), with an error handler: a request it
    // refuses before the app runs (a backslash in the path, a bad host header) gets the contract's
    // JSON 400 instead of an empty one, as Envoy's listener answers it.
    const listener = getRequestListener(app.fetch, { hostname: host, errorHandler: requestErrorAnswer });
    const serverOpts = { maxHeaderSize: opts.maxHeaderBytes ?? 16_384, keepAliveTimeout: 65_000, requestTimeout: 0 };
    const edge = opts.edgeTls ? tls?.current() : undefined;
    const s = edge ? createHttpsServer({ ...serverOpts, cert: edge.cert, key: edge.key }, listener) : createServer(serverOpts, listener);
    if (edge && tls) tls.onChange((m) => (s as HttpsServer).setSecureContext({ cert: m.cert, key: m.key }));
    s.once('error', reject);
    s.listen(opts.port, host, () => resolve(s));
  });
  server.on('request', (_req, res) => {
    inflight += 1;
    res.once('close', () => (inflight -= 1));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      socket.end(
        rawAnswer('431 Request Header Fields Too Large', JSON.stringify(errorBody('headers_too_large', 'request headers are too large'))),
      );
    } else {
      socket.end(rawAnswer('400 Bad Request', JSON.stringify(errorBody('invalid_request', 'malformed HTTP request'))));
    }
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  logger.info({ port, host, consul: opts.consulUrl, snapshot: opts.snapshotPath, bundled: runsBundled() }, 'router listening');

  let registration: Registration | undefined;
  if (opts.register !== false)
    registration = keepRegistered({ consulUrl: opts.consulUrl, id, host, port, tls: opts.edgeTls === true, logger });

  let closed: Promise<void> | undefined;
  return {
    port,
    url: `http://${host}:${port}`,
    close(graceMs = 10_000) {
      closed ??= (async () => {
        draining = true;
        await registration?.stop();
        const stoppedListening = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const deadline = Date.now() + graceMs;
        while (inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        hold.releaseAll();
        server.closeAllConnections();
        await stoppedListening;
        await table.close();
        await pools.close(1000);
        logger.info({ leftInflight: inflight }, 'router stopped');
      })();
      return closed;
    },
  };
}
