/**
 * A network drill's own requests through one data-plane replica, beside the load generator's:
 * which cell answers a market now (a list of its orders), an order written, an order read back.
 * Each names the cell that answered (`x-cell-id`, docs/contracts.md §Request contract).
 */

/** One answer: when the request was sent and answered, its status and the cell that answered ('' for none). */
export interface PlaneAnswer {
  start: number;
  end: number;
  status: number;
  cell: string;
  /** The order's ID, on a create or read that answered one. */
  id?: string;
}

const TIMEOUT_MS = 3000;

/**
 * The fetch a probe goes through: the topology's (`DrillEnv.fetch`: HTTPS trusting its CA under
 * `cellctl up --tls`), else Node's global fetch.
 */
export type PlaneFetch = (url: string, init?: RequestInit) => Promise<Response>;

async function call(url: string, market: string, init: RequestInit = {}, get: PlaneFetch = fetch): Promise<PlaneAnswer> {
  const start = Date.now();
  try {
    const res = await get(url, {
      ...init,
      headers: { 'x-market-id': market, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const body = (await res.json().catch(() => undefined)) as { id?: unknown } | undefined;
    const id = typeof body?.id === 'string' ? body.id : undefined;
    return { start, end: Date.now(), status: res.status, cell: res.headers.get('x-cell-id') ?? '', ...(id ? { id } : {}) };
  } catch {
    return { start, end: Date.now(), status: 0, cell: '' };
  }
}

/** Which cell answers `market` through the replica at `base` (a one-order list). */
export const whoServes = (base: string, market: string, get?: PlaneFetch) =>
  call(`${base}/v1/orders?market=${encodeURIComponent(market)}&limit=1`, market, {}, get);

/** Writes one order of `market` through the replica at `base`, with idempotency key `key`. */
export const createOrder = (base: string, market: string, key: string, get?: PlaneFetch) =>
  call(
    `${base}/v1/orders`,
    market,
    {
      method: 'POST',
      headers: { 'idempotency-key': key },
      body: JSON.stringify({ customerId: 'drill', items: [{ sku: 'burrito', qty: 1, priceCents: 1299 }], address: '1 Market St' }),
    },
    get,
  );

/** Reads order `id` of `market` through the replica at `base`. */
export const readOrder = (base: string, market: string, id: string, get?: PlaneFetch) =>
  call(`${base}/v1/orders/${encodeURIComponent(id)}`, market, {}, get);

/** True for a 2xx answer. */
export const ok = (a: PlaneAnswer) => a.status >= 200 && a.status < 300;
