/**
 * The router's own endpoints: `/healthz` (alive), `/readyz` (table loaded and not draining),
 * `/metrics` (Prometheus), `/route?market=` (its view of a market, for a migration's freeze
 * barrier: market-view.ts), which only the control plane may ask: it takes the routers'
 * `router-admin` bearer token (shared/token-auth.ts; docs/security.md), `401 unauthorized` otherwise.
 */
import type { Hono } from 'hono';
import { errorBody } from '../../shared/errors.js';
import { MARKET_ID_PATTERN, isMarketId } from '../../shared/market.js';
import { tokenAuth } from '../../shared/token-auth.js';
import type { Env, RouterDeps } from './deps.js';
import { marketView } from './market-view.js';

/** Registers the four endpoints on `app`. */
export function opsRoutes(app: Hono<Env>, deps: RouterDeps): void {
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
        breakers: deps.isolation.states(),
        held: deps.hold.size,
        routeCache: deps.resolver.size,
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
  const routeViewTokens = deps.routeViewToken ? [{ name: 'router-admin', scope: 'read' as const, token: deps.routeViewToken }] : [];
  const routeViewAuth = tokenAuth({ tokens: routeViewTokens, what: 'route view', scopeOf: () => 'read' });
  app.get('/route', routeViewAuth, async (c) => {
    const market = c.req.query('market');
    if (!market) return c.json(errorBody('missing_market', 'query parameter market is required'), 400);
    if (!isMarketId(market)) return c.json(errorBody('invalid_market', `market must match ${MARKET_ID_PATTERN}`), 400);
    const views = deps.marketViews ? await deps.marketViews(market) : [marketView(deps, market)];
    return c.json({ id: deps.id, market, views });
  });
}
