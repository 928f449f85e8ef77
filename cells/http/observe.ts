/** Per-request bookkeeping: request ID, `x-cell-id`, metrics by route and status, structured log line, in-flight count. */
import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { CELL_HEADER } from '../../shared/market.js';
import type { Logger } from '../../shared/logger.js';
import type { CellMetrics } from '../metrics.js';

/** The route pattern that answered (bounded label cardinality), or `unmatched`. */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c).filter((r) => r.method !== 'ALL');
  return routes[routes.length - 1]?.path ?? 'unmatched';
}

/** Counts requests in flight (graceful shutdown waits for zero). */
export class InFlight {
  count = 0;
  /** Resolves when nothing is in flight, or after `timeoutMs`; true when drained. */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.count === 0;
  }
}

/** The observing middleware of every request. */
export function observe(opts: {
  cell: string;
  metrics: CellMetrics;
  logger: Logger;
  inflight: InFlight;
  /** The market of a request counted apart as well (a market moving by share), or undefined. */
  shareMarket?: (c: Context) => string | undefined;
}): MiddlewareHandler {
  return async (c, next) => {
    const start = performance.now();
    const requestId = c.req.header('x-request-id') ?? randomUUID();
    c.header('x-request-id', requestId);
    c.header(CELL_HEADER, opts.cell);
    opts.inflight.count++;
    try {
      await next();
    } finally {
      opts.inflight.count--;
    }
    try {
      c.res.headers.set(CELL_HEADER, opts.cell);
      c.res.headers.set('x-request-id', requestId);
    } catch {
      /* immutable headers: already set through c.header */
    }
    const route = routeLabel(c);
    const seconds = (performance.now() - start) / 1000;
    opts.metrics.httpRequests.inc({ route, method: c.req.method, status: String(c.res.status) });
    opts.metrics.httpDuration.observe({ route, method: c.req.method }, seconds);
    const market = opts.shareMarket?.(c);
    if (market !== undefined) {
      opts.metrics.shareRequests.inc({ market, route, method: c.req.method, status: String(c.res.status) });
      opts.metrics.shareDuration.observe({ market, route, method: c.req.method }, seconds);
    }
    const line = { requestId, method: c.req.method, path: c.req.path, route, status: c.res.status, ms: Math.round(seconds * 1000) };
    if (c.res.status >= 500) opts.logger.warn(line, 'request failed');
    else opts.logger.debug(line, 'request');
  };
}
