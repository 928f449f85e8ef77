/**
 * A write Envoy sent to this cell before it heard that the market froze: the migration freezes a
 * cell only once every Envoy has ACKed the frozen route (control-plane/migration/freeze-barrier.ts),
 * but a request Envoy had already routed here can arrive after that (queued in its pool, or waiting
 * for this cell's event loop). Instead of `409 market_frozen`, such a write is answered `307` to
 * its own URL, which Envoy's cell route follows by routing it again (control-plane/xds/resources/route.ts):
 * now to the frozen route, whose hold releases it to the new owner after the flip, so the client
 * sees one answer (docs/contracts.md §Request contract).
 *
 * Only on the first pass: a request Envoy already redirected carries `x-envoy-original-url`, and is
 * refused `409` as before, so a cell frozen while Envoy still routes the market here (a freeze made
 * outside a migration) costs one more hop, never a loop. Not for a frozen bucket range (a move by
 * share, whose weighted route could send it here again), nor for a request without the header
 * Envoy's cell route adds (the router holds its requests itself and strips every `x-cellsim-*`
 * header of a client).
 */
import type Database from 'better-sqlite3';
import type { MiddlewareHandler } from 'hono';
import { HttpError } from '../../shared/errors.js';
import { EDGE_REDIRECT_HEADER, MARKET_HEADER, isMarketId } from '../../shared/market.js';
import { isFrozen } from '../orders/repo.js';

/** The header Envoy puts on a request it redirected internally, naming the URL it first asked for. */
const ENVOY_ORIGINAL_URL = 'x-envoy-original-url';

/** A `host` header as a URL may carry it: a name or address and an optional port. */
const HOST_RE = /^[A-Za-z0-9.:[\]-]+$/;

/** The URL the edge's client asked for, or undefined when the headers cannot build one. */
function sameUrl(proto: string | undefined, host: string | undefined, url: string): string | undefined {
  const scheme = (proto ?? '').trim().toLowerCase();
  if ((scheme !== 'http' && scheme !== 'https') || host === undefined || !HOST_RE.test(host)) return undefined;
  const { pathname, search } = new URL(url);
  return `${scheme}://${host}${pathname}${search}`;
}

/** Turns the `409 market_frozen` of a whole frozen market into a `307` Envoy follows (above). */
export function frozenRelease(db: Database.Database): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const err = c.error;
    if (!(err instanceof HttpError) || err.code !== 'market_frozen') return;
    if (c.req.header(EDGE_REDIRECT_HEADER) !== '307' || c.req.header(ENVOY_ORIGINAL_URL) !== undefined) return;
    const market = c.req.header(MARKET_HEADER);
    if (market === undefined || !isMarketId(market) || !isFrozen(db, market)) return;
    const location = sameUrl(c.req.header('x-forwarded-proto'), c.req.header('host'), c.req.url);
    if (location === undefined) return;
    c.res = new Response(null, { status: 307, headers: { location, 'cache-control': 'no-store', 'retry-after': '1' } });
  };
}
