/**
 * The cell's HTTP app (hono): health and metrics, the bearer-protected admin API, and the /v1
 * order API behind the fault middleware. A map of every route of a cell. A delivery service
 * alone (`role: 'delivery'`) has no order API; its market export/import carries its own rows
 * (order facts, deliveries, sagas: docs/kafka.md §Market migration on Kafka).
 */
import { Hono, type Context } from 'hono';
import { MARKET_HEADER, isMarketId } from '../shared/market.js';
import { hasSharePeer } from './migration/share-peer.js';
import type { CellContext } from './context.js';
import { faultMiddleware } from './faults/middleware.js';
import { faultRoutes } from './faults/routes.js';
import { cellAdminAuth } from './http/auth.js';
import { dataPlanesOnly } from './http/peer.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import { observe, type InFlight } from './http/observe.js';
import { migrationRoutes } from './migration/routes.js';
import { ROW_TYPES_OF } from './migration/rows.js';
import { orderRoutes } from './order-routes.js';
import { stmt } from './db/stmt.js';
import { deliveryReadRoutes } from './reconcile/delivery-read.js';
import { forwardedWriteRoutes } from './order-writes.js';
import { httpSharePeer, shareReadRoutes, type PeerFetch } from './share-reads.js';

/** Builds the app of one cell process. */
export function createApp(ctx: CellContext, inflight: InFlight, peerFetch?: PeerFetch): Hono {
  const { config } = ctx;
  const app = new Hono();
  // A market moving by share is counted apart too: a step's SLO verdict compares its requests on both cells.
  // (A request finishing while the process closes its database is counted cell-wide only.)
  const shareMarket = (c: Context): string | undefined => {
    const m = c.req.header(MARKET_HEADER);
    try {
      return c.req.path.startsWith('/v1/') && m !== undefined && isMarketId(m) && hasSharePeer(ctx.db, m) ? m : undefined;
    } catch {
      return undefined;
    }
  };
  app.use('*', observe({ cell: config.id, metrics: ctx.metrics, logger: ctx.logger, inflight, shareMarket }));

  app.get('/healthz', (c) => c.json({ ok: true, cell: config.id }));
  app.get('/readyz', (c) =>
    ctx.isReady() ? c.json({ ready: true, cell: config.id, color: config.color }) : c.json({ ready: false, cell: config.id }, 503),
  );
  app.get('/metrics', async (c) => c.text(await ctx.metrics.registry.metrics(), 200, { 'content-type': ctx.metrics.registry.contentType }));

  app.use('/admin/*', cellAdminAuth(config.adminToken));
  app.get('/admin/status', (c) =>
    c.json({
      cell: config.id,
      version: config.version,
      color: config.color,
      pid: process.pid,
      role: config.role,
      leader: ctx.isLeader(),
      ready: ctx.isReady(),
    }),
  );
  app.route(
    '/admin/faults',
    faultRoutes(
      ctx.faults,
      () => ctx.onCrash(),
      (f) => (f.kind === 'slow-db' ? ctx.slowDb.started() : Promise.resolve()),
    ),
  );
  app.post('/admin/reconcile', async (c) => c.json(await ctx.reconcileNow()));
  app.route(
    '/admin/markets',
    migrationRoutes({
      db: ctx.db,
      dataDir: config.dataDir,
      log: ctx.published.log,
      group: ctx.published.group,
      importHoldMs: config.importHoldMs,
      types: ROW_TYPES_OF[config.role],
    }),
  );
  if (config.role === 'delivery') {
    // What a split cell's order service reads to reconcile (docs/kafka.md §Reconciliation of a split cell).
    app.route('/admin/reconcile', deliveryReadRoutes(ctx.db));
    app.onError(errorHandler(ctx.logger));
    app.notFound(notFoundHandler);
    return app;
  }

  // What the other cell of a market moving by share reads and forwards (docs/weighted-shifts.md §Reads during a move by share).
  app.route('/admin/markets', shareReadRoutes(ctx.db));
  app.route('/admin/markets', forwardedWriteRoutes(ctx));
  app.use('/v1/*', dataPlanesOnly(config.tls !== undefined));
  app.use('/v1/*', faultMiddleware(ctx.faults));
  app.route('/v1/orders', orderRoutes(ctx, httpSharePeer({ token: config.adminToken, tls: config.tls, fetch: peerFetch })));
  app.get('/v1/global/ping', (c) => c.json({ ok: true, cell: config.id, global: true }));
  app.get('/v1/global/markets', (c) => {
    const rows = stmt(ctx.db, 'SELECT market, COUNT(*) AS orders FROM orders GROUP BY market ORDER BY market').all();
    return c.json({ cell: config.id, markets: rows });
  });

  app.onError(errorHandler(ctx.logger));
  app.notFound(notFoundHandler);
  return app;
}
