/**
 * `/v1/orders`: create (idempotent), get, list (keyset-paginated), cancel. An order is shown with
 * its delivery and saga, so these routes sit above orders/, delivery/ and saga/ (which import
 * none of them).
 */
import { Hono, type Context } from 'hono';
import { HttpError } from '../shared/errors.js';
import { MARKET_HEADER, extractMarket } from '../shared/market.js';
import type { CellContext } from './context.js';
import { getDelivery } from './delivery/repo.js';
import { invalid, readJson } from './http/body.js';
import { getSaga, sagaView } from './saga/repo.js';
import { cancelOrder, createOrder } from './orders/domain.js';
import { getHistory, getOrder, listOrders, toView } from './orders/repo.js';
import { CancelSchema, CreateOrderSchema, IdempotencyKeySchema, ListQuerySchema } from './orders/schemas.js';

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

function encodeCursor(at: number, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}

function decodeCursor(cursor: string): [number, string] {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && Number.isInteger(v[0]) && typeof v[1] === 'string') return [v[0] as number, v[1]];
  } catch {
    /* fall through */
  }
  throw new HttpError('invalid_request', 'cursor is not a cursor this API returned');
}

/** The order routes of a cell. */
export function orderRoutes(ctx: CellContext): Hono {
  const app = new Hono();
  const { db } = ctx;

  app.post('/', async (c) => {
    const market = requireMarket(c);
    const key = c.req.header('idempotency-key');
    if (key === undefined || key === '') throw new HttpError('idempotency_key_required', 'header Idempotency-Key is required');
    const keyCheck = IdempotencyKeySchema.safeParse(key);
    if (!keyCheck.success) invalid(keyCheck.error.issues, 'Idempotency-Key');
    const body = await readJson(c, CreateOrderSchema);
    const res = createOrder(db, market, key, body);
    if (res.created) {
      ctx.metrics.ordersAccepted.inc({ market });
      ctx.notifyOutbox();
    }
    return c.json(res.order, res.created ? 201 : 200, { location: `/v1/orders/${res.order.id}` });
  });

  app.get('/', (c) => {
    const q = ListQuerySchema.safeParse(c.req.query());
    if (!q.success) invalid(q.error.issues, 'query');
    const header = optionalMarket(c);
    if (q.data.market !== undefined && header !== undefined && q.data.market !== header) {
      throw new HttpError('invalid_market', `market query (${q.data.market}) and ${MARKET_HEADER} (${header}) differ`);
    }
    const market = q.data.market ?? header;
    if (market === undefined) throw new HttpError('missing_market', `give ?market= or the ${MARKET_HEADER} header`);
    const after = q.data.cursor === undefined ? undefined : decodeCursor(q.data.cursor);
    const rows = listOrders(db, { market, status: q.data.status, limit: q.data.limit + 1, after });
    const page = rows.slice(0, q.data.limit);
    const last = page[page.length - 1];
    const nextCursor = rows.length > q.data.limit && last ? encodeCursor(last.created_at, last.id) : null;
    return c.json({ orders: page.map((o) => toView(o)), nextCursor });
  });

  app.get('/:id', (c) => {
    const market = optionalMarket(c);
    const o = getOrder(db, c.req.param('id'));
    if (o === undefined || (market !== undefined && o.market !== market))
      throw new HttpError('not_found', `order ${c.req.param('id')} not found`);
    const d = getDelivery(db, o.id);
    const s = getSaga(db, o.id);
    return c.json({
      ...toView(o, getHistory(db, o.id)),
      delivery: d ? { status: d.status, courier: d.courier, reason: d.reason } : null,
      saga: s ? sagaView(s) : null,
    });
  });

  app.post('/:id/cancel', async (c) => {
    const market = optionalMarket(c);
    const body = await readJson(c, CancelSchema, { optional: true });
    const order = cancelOrder(db, c.req.param('id'), body.reason ?? 'cancelled by customer', market);
    ctx.notifyOutbox();
    return c.json(order);
  });

  return app;
}
