/**
 * Reads of a market moving by share (docs/weighted-shifts.md §Reads during a move by share). While
 * the control plane has declared a peer for the market (migration/share-peer.ts), the orders of the
 * peer's bucket range live there: a list answers this cell's other orders merged with the peer's
 * page of its range, on the list's own order and cursor, and an order read whose order is not here,
 * or whose bucket the peer homes, is answered by the peer. The peer is asked over the cells' admin
 * API (the cell-admin token; HTTPS with this cell's certificate under `--tls`), and answers from
 * its own rows only, so a read never bounces. A peer that does not answer fails the read
 * (`503 cell_unavailable` with `Retry-After`): a list without the peer's part would be wrong.
 * The same client carries the writes a cell forwards to the peer (order-writes.ts).
 */
import type Database from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { HttpError } from '../shared/errors.js';
import { EXPERIMENT_BUCKETS } from '../shared/experiment.js';
import { isMarketId } from '../shared/market.js';
import { peerClient, type PeerClient } from '../shared/pki/client.js';
import { watchTls } from '../shared/pki/reload.js';
import type { TlsFiles } from '../shared/pki/names.js';
import { invalid } from './http/body.js';
import type { SharePeer } from './migration/share-peer.js';
import { decodeCursor, encodeCursor, orderDetail, type OrderDetail } from './order-view.js';
import { getOrder, listOrders, toView, type OrderView } from './orders/repo.js';
import { ORDER_STATUSES, type OrderStatus } from './orders/schemas.js';

/** A list page's question. */
export interface PageQuery {
  status?: OrderStatus;
  limit: number;
  after?: [number, string];
}

/** The peer's side of a market's reads. */
export interface PeerReads {
  /** The first `q.limit` orders of the peer's bucket range after `q.after`, oldest first. */
  list(peer: SharePeer, market: string, q: PageQuery): Promise<OrderView[]>;
  /** The order as the peer holds it, or undefined when it has none of that id in the market. */
  order(peer: SharePeer, market: string, id: string): Promise<OrderDetail | undefined>;
}

const keyOf = (o: OrderView): [number, string] => [Date.parse(o.createdAt), o.id];
const before = (a: OrderView, b: OrderView): boolean => {
  const [x, y] = [keyOf(a), keyOf(b)];
  return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
};

/**
 * The first `n` orders of two pages, each sorted by (creation time, id) and each the first of its
 * own disjoint set after the same cursor: the union's first `n` are among them, in the same order.
 */
export function mergePages(a: readonly OrderView[], b: readonly OrderView[], n: number): OrderView[] {
  const out: OrderView[] = [];
  let i = 0;
  let j = 0;
  while (out.length < n && (i < a.length || j < b.length)) {
    const x = a[i];
    const y = b[j];
    if (x !== undefined && (y === undefined || before(x, y))) {
      out.push(x);
      i++;
    } else if (y !== undefined) {
      out.push(y);
      j++;
    }
  }
  return out;
}

/** The peer's side of a market's writes (docs/weighted-shifts.md §Writes during a move by share). */
export interface PeerWrites {
  /**
   * Sends a write to the peer's `POST /admin/markets/:m<path>` and returns its answer, whatever
   * it is below 500; no such answer from any instance is `503 cell_unavailable`. The writes sent
   * are idempotent (a create by its Idempotency-Key, a cancel), so a second instance may be tried.
   */
  write(peer: SharePeer, market: string, path: string, init: { headers?: Record<string, string>; body: unknown }): Promise<Response>;
}

/** A fetch of a peer's URL. */
export type PeerFetch = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * The peer's reads and writes over HTTP(S) with the cells' admin token, each instance tried in turn
 * within `timeoutMs`; `fetch` replaces the network (tests hand in a peer cell's app).
 */
export function httpSharePeer(opts: { token?: string; tls?: TlsFiles; timeoutMs?: number; fetch?: PeerFetch }): PeerReads &
  PeerWrites & {
    close(): Promise<void>;
  } {
  let client: PeerClient | undefined;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const send = (url: string, init: RequestInit): Promise<Response> => {
    if (opts.fetch) return opts.fetch(url, init);
    client ??= peerClient(opts.tls ? watchTls(opts.tls) : undefined, ['cell']);
    return client.fetch(url, init);
  };
  /** The first answer `accept` takes, from the peer's instances in turn. */
  const call = async (
    peer: SharePeer,
    path: string,
    accept: (res: Response) => boolean,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<Response> => {
    const problems: string[] = [];
    for (const base of peer.urls) {
      try {
        const res = await send(`${base}${path}`, {
          method: init.method,
          body: init.body,
          headers: { ...init.headers, authorization: `Bearer ${opts.token ?? ''}` },
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (accept(res)) return res;
        problems.push(`${base} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      } catch (err) {
        problems.push(`${base}: ${(err as Error).message}`);
      }
    }
    throw new HttpError(
      'cell_unavailable',
      `cell ${peer.cell}, which holds part of this market while it moves, did not answer (${problems.join('; ')})`,
      {
        headers: { 'retry-after': '1' },
      },
    );
  };
  const get = (peer: SharePeer, path: string) => call(peer, path, (res) => res.ok || res.status === 404);
  return {
    async list(peer, market, q) {
      const { from, to } = peer.buckets;
      const params = new URLSearchParams({ from: String(from), to: String(to), limit: String(q.limit) });
      if (q.status) params.set('status', q.status);
      if (q.after) params.set('cursor', encodeCursor(q.after[0], q.after[1]));
      const res = await get(peer, `/admin/markets/${encodeURIComponent(market)}/orders?${params.toString()}`);
      if (!res.ok)
        throw new HttpError('cell_unavailable', `cell ${peer.cell} answered ${res.status} to a list`, { headers: { 'retry-after': '1' } });
      return ((await res.json()) as { orders: OrderView[] }).orders;
    },
    async order(peer, market, id) {
      const res = await get(peer, `/admin/markets/${encodeURIComponent(market)}/orders/${encodeURIComponent(id)}`);
      if (res.status === 404) {
        await res.arrayBuffer().catch(() => undefined);
        return undefined;
      }
      return (await res.json()) as OrderDetail;
    },
    write(peer, market, path, init) {
      return call(peer, `/admin/markets/${encodeURIComponent(market)}${path}`, (res) => res.status < 500, {
        method: 'POST',
        headers: { ...init.headers, 'content-type': 'application/json' },
        body: JSON.stringify(init.body),
      });
    },
    close: async () => {
      await client?.close();
    },
  };
}

const bucket = z.coerce.number().int().min(0).max(EXPERIMENT_BUCKETS);
const PeerListSchema = z
  .object({
    from: bucket,
    to: bucket,
    status: z.enum(ORDER_STATUSES).optional(),
    limit: z.coerce.number().int().min(1).max(201).default(50),
    cursor: z.string().max(400).optional(),
  })
  .strict()
  .refine((q) => q.from < q.to, { message: 'from must be below to', path: ['to'] });

/**
 * `GET /admin/markets/:m/orders?from=&to=[&status=&limit=&cursor=]` and `GET /admin/markets/:m/orders/:id`:
 * what a peer asks, answered from this cell's own rows only (never from its own peer).
 */
export function shareReadRoutes(db: Database.Database): Hono {
  const app = new Hono();
  const market = (m: string): string => {
    if (!isMarketId(m)) throw new HttpError('invalid_market', `market id must match ^[a-z0-9][a-z0-9-]{0,62}$`);
    return m;
  };
  app.get('/:m/orders', (c) => {
    const m = market(c.req.param('m'));
    const q = PeerListSchema.safeParse(c.req.query());
    if (!q.success) invalid(q.error.issues, 'query');
    const r = { from: q.data.from, to: q.data.to };
    const after = q.data.cursor === undefined ? undefined : decodeCursor(q.data.cursor);
    const rows = listOrders(db, { market: m, status: q.data.status, limit: q.data.limit, after, buckets: { ...r, inside: true } });
    return c.json({ orders: rows.map((o) => toView(o)) });
  });
  app.get('/:m/orders/:id', (c) => {
    const m = market(c.req.param('m'));
    const o = getOrder(db, c.req.param('id'));
    if (o === undefined || o.market !== m) throw new HttpError('not_found', `order ${c.req.param('id')} not found`);
    return c.json(orderDetail(db, o));
  });
  return app;
}
