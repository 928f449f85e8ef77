/**
 * `/v1/orders`: create (idempotent), get, list (keyset-paginated), cancel. An order is shown with
 * its delivery and saga, so these routes sit above orders/, delivery/ and saga/ (which import
 * none of them).
 */
import { Hono, type Context } from 'hono';
import { HttpError } from '../shared/errors.js';
import { MARKET_HEADER, extractMarket } from '../shared/market.js';
import type { CellContext } from './context.js';
import { experimentBucket } from '../shared/experiment.js';
import { invalid, readJson } from './http/body.js';
import { frozenRelease } from './http/frozen-release.js';
import { getSharePeer, peerHomes } from './migration/share-peer.js';
import { decodeCursor, encodeCursor, orderDetail } from './order-view.js';
import { cancelHere, cancelPeer, createHere, createPeer, relay, requireIdempotencyKey } from './order-writes.js';
import { getOrder, listOrders, toView } from './orders/repo.js';
import { mergePages, type PeerReads, type PeerWrites } from './share-reads.js';
import { CancelSchema, CreateOrderSchema, ListQuerySchema } from './orders/schemas.js';

/** The market named by the request's header (400 missing_market / invalid_market). */
export function requireMarket(c: Context): string {
  const res = extractMarket(c.req.header(MARKET_HEADER));
  if (!res.ok) throw new HttpError(res.code, res.message);
  return res.market;
}

/** The header market when present (validated), else undefined. */
function optionalMarket(c: Context): string | undefined {
  return c.req.header(MARKET_HEADER) === undefined ? undefined : requireMarket(c);
}

/**
 * The order routes of a cell; `sharePeer` answers for a share peer's buckets, its reads
 * (share-reads.ts) and its writes (order-writes.ts).
 */
export function orderRoutes(ctx: CellContext, sharePeer: PeerReads & PeerWrites): Hono {
  const app = new Hono();
  const { db } = ctx;
  app.use('*', frozenRelease(db));

  app.post('/', async (c) => {
    const market = requireMarket(c);
    const key = requireIdempotencyKey(c);
    const body = await readJson(c, CreateOrderSchema);
    // A market moving by share: a customer whose bucket the peer homes is created there (order-writes.ts).
    const peer = createPeer(ctx, market, body.customerId);
    if (peer) return relay(c, await sharePeer.write(peer, market, '/orders', { headers: { 'idempotency-key': key }, body }));
    const { order, status } = createHere(ctx, market, key, body);
    return c.json(order, status, { location: `/v1/orders/${order.id}` });
  });

  app.get('/', async (c) => {
    const q = ListQuerySchema.safeParse(c.req.query());
    if (!q.success) invalid(q.error.issues, 'query');
    const header = optionalMarket(c);
    if (q.data.market !== undefined && header !== undefined && q.data.market !== header) {
      throw new HttpError('invalid_market', `market query (${q.data.market}) and ${MARKET_HEADER} (${header}) differ`);
    }
    const market = q.data.market ?? header;
    if (market === undefined) throw new HttpError('missing_market', `give ?market= or the ${MARKET_HEADER} header`);
    const after = q.data.cursor === undefined ? undefined : decodeCursor(q.data.cursor);
    const page = { status: q.data.status, limit: q.data.limit + 1, after };
    // A market moving by share: the peer's buckets come from the peer, merged on the list's order (share-reads.ts).
    const peer = getSharePeer(db, market);
    const mine = listOrders(db, { market, ...page, ...(peer ? { buckets: { ...peer.buckets, inside: false } } : {}) }).map((o) =>
      toView(o),
    );
    const rows =
      peer && peer.buckets.from < peer.buckets.to ? mergePages(mine, await sharePeer.list(peer, market, page), page.limit) : mine;
    const shown = rows.slice(0, q.data.limit);
    const last = shown[shown.length - 1];
    const nextCursor = rows.length > q.data.limit && last ? encodeCursor(Date.parse(last.createdAt), last.id) : null;
    return c.json({ orders: shown, nextCursor });
  });

  app.get('/:id', async (c) => {
    const market = optionalMarket(c);
    const id = c.req.param('id');
    const found = getOrder(db, id);
    const o = found === undefined || (market !== undefined && found.market !== market) ? undefined : found;
    // A market moving by share: an order this cell lacks, or whose bucket the peer homes, is the peer's to show.
    const m = o?.market ?? market;
    const peer = m === undefined ? undefined : getSharePeer(db, m);
    if (m !== undefined && peer && (o === undefined || peerHomes(peer, experimentBucket(o.customer_id)))) {
      const theirs = await sharePeer.order(peer, m, id);
      if (theirs && peerHomes(peer, experimentBucket(theirs.customerId))) return c.json(theirs);
    }
    if (o === undefined) throw new HttpError('not_found', `order ${id} not found`);
    return c.json(orderDetail(db, o));
  });

  app.post('/:id/cancel', async (c) => {
    const market = optionalMarket(c);
    const body = await readJson(c, CancelSchema, { optional: true });
    const id = c.req.param('id');
    const to = cancelPeer(ctx, id, market);
    if (to) return relay(c, await sharePeer.write(to.peer, to.market, `/orders/${encodeURIComponent(id)}/cancel`, { body }));
    return c.json(cancelHere(ctx, id, body.reason, market));
  });

  return app;
}
