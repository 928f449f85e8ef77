/**
 * The hold endpoint: a middleware catching every request that carries the hold header (added
 * by Envoy's frozen route, which sends requests for frozen markets here with their original
 * path). It waits until the published snapshot no longer has the market frozen and every
 * Envoy connected here has ACKed the routes that say so, then answers 307 to the original URL; Envoy follows
 * it internally and routes to the new owner, so the client sees one answer. Past the bound:
 * 503 market_migrating with Retry-After (docs/contracts.md §Request contract).
 *
 * The 307's scheme is the client's (Envoy's `x-forwarded-proto`): Envoy follows only a redirect
 * of the downstream scheme (`allow_cross_scheme_redirect: false`) and passes any other to the
 * client, so an `http:` Location behind an HTTPS edge reached the client, which then spoke plain
 * HTTP to the TLS listener (docs/tls.md §Held requests behind an HTTPS edge).
 */
import type { MiddlewareHandler } from 'hono';
import { HttpError } from '../../shared/errors.js';
import { MARKET_HEADER, isMarketId } from '../../shared/market.js';
import { RETRY_AFTER_S } from './resources/errors.js';
import { HOLD_MS_HEADER } from './resources/route.js';
import type { Xds } from './index.js';

/** How long a released request waits for the Envoys to ACK the flip before it is redirected anyway. */
const SYNC_GRACE_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The scheme the client used, as Envoy's edge tells it (`x-forwarded-proto`); `http` when absent. */
function clientScheme(forwardedProto: string | undefined): 'http' | 'https' | undefined {
  const proto = (forwardedProto ?? 'http').trim().toLowerCase();
  return proto === 'http' || proto === 'https' ? proto : undefined;
}

/** The hold middleware; requests without the hold header pass through. */
export function holdMiddleware(xds: Xds): MiddlewareHandler {
  return async (c, next) => {
    const boundHeader = c.req.header(HOLD_MS_HEADER);
    if (boundHeader === undefined) return next();
    const market = c.req.header(MARKET_HEADER) ?? '';
    const host = c.req.header('host') ?? '';
    const scheme = clientScheme(c.req.header('x-forwarded-proto'));
    const bound = Math.min(Math.max(Number(boundHeader) || 0, 0), 60_000);
    if (!isMarketId(market) || !/^[A-Za-z0-9.:[\]-]+$/.test(host) || !scheme) {
      throw new HttpError('invalid_request', 'a held request needs a valid x-market-id, host and x-forwarded-proto');
    }
    const url = new URL(c.req.url);
    const location = `${scheme}://${host}${url.pathname}${url.search}`;
    const t0 = Date.now();
    let releasedAt: number | undefined;
    for (;;) {
      // The published snapshot, not the live Consul view: a redirect before the new routes are
      // published (and ACKed) would land on the frozen route again.
      if (xds.publishedMarket(market) !== 'frozen') {
        releasedAt ??= Date.now();
        if (xds.nodesInSync() || Date.now() - releasedAt >= SYNC_GRACE_MS) {
          return c.body(null, 307, { location, 'cache-control': 'no-store' });
        }
      }
      if (Date.now() - t0 >= bound) {
        throw new HttpError('market_migrating', `market ${market} is being migrated; retry shortly`, {
          headers: { 'retry-after': String(RETRY_AFTER_S) },
        });
      }
      await sleep(10);
    }
  };
}
