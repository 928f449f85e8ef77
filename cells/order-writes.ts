/**
 * Order writes, applied here or forwarded to the share peer (docs/weighted-shifts.md §Writes during a move by share).
 * While the control plane has declared a peer for a market (migration/share-peer.ts), a create
 * whose customer's bucket the peer homes, and a cancel of an order whose bucket it homes (or that
 * is not here), go to the peer over the cells' admin API (share-reads.ts's client), and the client
 * gets the peer's answer. The peer applies such a write only when its own declaration leaves the
 * bucket to it, checked in the write's transaction, and never forwards it again: a write happens
 * on the order's home or nowhere. How the request was routed (with the share key or without) does
 * not matter: a cell decides by the order's bucket alone.
 */
import { Hono, type Context } from 'hono';
import type { StatusCode } from 'hono/utils/http-status';
import { HttpError } from '../shared/errors.js';
import { experimentBucket } from '../shared/experiment.js';
import { isMarketId } from '../shared/market.js';
import type { CellContext } from './context.js';
import { invalid, readJson } from './http/body.js';
import { getSharePeer, peerHomes, type SharePeer } from './migration/share-peer.js';
import { cancelOrder, createOrder, type HomeGuard } from './orders/domain.js';
import { getOrder, type OrderView } from './orders/repo.js';
import { CancelSchema, CreateOrderSchema, IdempotencyKeySchema, type CreateOrder } from './orders/schemas.js';

/** The request's `Idempotency-Key` (`400 idempotency_key_required`, or `invalid_request` when malformed). */
export function requireIdempotencyKey(c: Context): string {
  const key = c.req.header('idempotency-key');
  if (key === undefined || key === '') throw new HttpError('idempotency_key_required', 'header Idempotency-Key is required');
  const keyCheck = IdempotencyKeySchema.safeParse(key);
  if (!keyCheck.success) invalid(keyCheck.error.issues, 'Idempotency-Key');
  return key;
}

/** The market's share peer when it homes the customer's bucket, else undefined (the write is this cell's). */
export function createPeer(ctx: CellContext, market: string, customerId: string): SharePeer | undefined {
  const peer = getSharePeer(ctx.db, market);
  return peer && peerHomes(peer, experimentBucket(customerId)) ? peer : undefined;
}

/**
 * The share peer a cancel of order `id` goes to: the order's market has one and it homes the
 * order's bucket, or the order is not here and the peer homes some buckets of `market`.
 */
export function cancelPeer(ctx: CellContext, id: string, market: string | undefined): { peer: SharePeer; market: string } | undefined {
  const found = getOrder(ctx.db, id);
  const o = found === undefined || (market !== undefined && found.market !== market) ? undefined : found;
  const m = o?.market ?? market;
  const peer = m === undefined ? undefined : getSharePeer(ctx.db, m);
  if (m === undefined || peer === undefined) return undefined;
  if (o !== undefined) return peerHomes(peer, experimentBucket(o.customer_id)) ? { peer, market: m } : undefined;
  return peer.buckets.from < peer.buckets.to ? { peer, market: m } : undefined;
}

/**
 * Refuses a forwarded write unless this cell homes the order's bucket: a peer is declared for the
 * market here and its range leaves the bucket out. Otherwise the cells' declarations are changing
 * (the migration declares one cell, then the other) or the move is over: `409 market_frozen`, retry.
 */
export function homeGuard(ctx: CellContext): HomeGuard {
  return (market, customerId) => {
    const peer = getSharePeer(ctx.db, market);
    const b = experimentBucket(customerId);
    if (peer !== undefined && !peerHomes(peer, b)) return;
    const why = peer
      ? `its share peer ${peer.cell} homes buckets [${peer.buckets.from}, ${peer.buckets.to})`
      : 'no move by share is declared here';
    throw new HttpError(
      'market_frozen',
      `bucket ${b} of market ${market} is not homed on this cell (${why}): a forwarded write is applied at the order's home only; retry shortly`,
      { headers: { 'retry-after': '1' } },
    );
  };
}

/** Creates the order here (idempotent by `key`): the order and its status, 201 created or 200 a replay. */
export function createHere(
  ctx: CellContext,
  market: string,
  key: string,
  body: CreateOrder,
  guard?: HomeGuard,
): { order: OrderView; status: 201 | 200 } {
  const res = createOrder(ctx.db, market, key, body, Date.now(), guard);
  if (res.created) {
    ctx.metrics.ordersAccepted.inc({ market });
    ctx.notifyOutbox();
  }
  return { order: res.order, status: res.created ? 201 : 200 };
}

/** Cancels the order here (idempotent: a cancelled order is answered as it is). */
export function cancelHere(ctx: CellContext, id: string, reason: string | undefined, market?: string, guard?: HomeGuard): OrderView {
  const order = cancelOrder(ctx.db, id, reason ?? 'cancelled by customer', market, Date.now(), guard);
  ctx.notifyOutbox();
  return order;
}

/** The headers of a peer's answer that matter to the client (`x-cell-id` stays the answering cell's). */
const RELAYED = ['content-type', 'location', 'retry-after'];

/** The client's answer to a forwarded write: the peer's status, body and the headers that matter. */
export async function relay(c: Context, res: Response): Promise<Response> {
  const headers: Record<string, string> = {};
  for (const h of RELAYED) {
    const v = res.headers.get(h);
    if (v !== null) headers[h] = v;
  }
  return c.newResponse(await res.text(), res.status as StatusCode, headers);
}

/**
 * What a share peer forwards (under `/admin/markets`, the cell-admin token): `POST /:m/orders`
 * (with `Idempotency-Key`) and `POST /:m/orders/:id/cancel`, applied only at the order's home
 * ({@link homeGuard}), never forwarded again.
 */
export function forwardedWriteRoutes(ctx: CellContext): Hono {
  const app = new Hono();
  const market = (m: string): string => {
    if (!isMarketId(m)) throw new HttpError('invalid_market', `market id must match ^[a-z0-9][a-z0-9-]{0,62}$`);
    return m;
  };
  app.post('/:m/orders', async (c) => {
    const m = market(c.req.param('m'));
    const key = requireIdempotencyKey(c);
    const body = await readJson(c, CreateOrderSchema);
    const { order, status } = createHere(ctx, m, key, body, homeGuard(ctx));
    return c.json(order, status, { location: `/v1/orders/${order.id}` });
  });
  app.post('/:m/orders/:id/cancel', async (c) => {
    const m = market(c.req.param('m'));
    const body = await readJson(c, CancelSchema, { optional: true });
    return c.json(cancelHere(ctx, c.req.param('id'), body.reason, m, homeGuard(ctx)));
  });
  return app;
}
