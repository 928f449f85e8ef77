/**
 * Lost and duplicated orders, checked against the cells' own data after a soak: every order the
 * load was answered `201 Created` for (read from vegeta's results) must be listed exactly once by
 * the cell that owns its market now; and no Idempotency-Key may have created two orders.
 */
import { readResults, urlTags } from '../../infra/vegeta/index.js';
import type { Verdict } from '../verdicts.js';

/** A create the load got a 2xx for. */
export interface CreatedOrder {
  id: string;
  market: string;
  /** 201 (created) or 200 (the same key's order again). */
  status: number;
  /** The Idempotency-Key sent (the traffic model's `k` tag); '' when unknown. */
  key: string;
  /** When the answer came (epoch ms): the order was committed before it (the cell-loss drill's acknowledgement time). */
  ackedAt: number;
}

/** Every 2xx create answer in vegeta's results file, with its order ID (from the answer's body). */
export async function createdOrders(resultsFile: string): Promise<CreatedOrder[]> {
  const out: CreatedOrder[] = [];
  for await (const r of readResults(resultsFile)) {
    if (r.code !== 200 && r.code !== 201) continue;
    const tags = urlTags(r.url);
    if (tags.op !== 'create' || !tags.m) continue;
    let id: unknown;
    try {
      id = (JSON.parse(r.body.toString('utf8')) as { id?: unknown }).id;
    } catch {
      /* a body cut short: no ID to check */
    }
    if (typeof id === 'string') out.push({ id, market: tags.m, status: r.code, key: tags.k ?? '', ackedAt: r.start + r.latencyMs });
  }
  return out;
}

/** One market's orders as its owning cell lists them. */
export interface MarketListing {
  market: string;
  /** The cell that owns the market now (Consul). */
  owner: string;
  /** The cell that answered the listing (`x-cell-id`). */
  answeredBy: string;
  ids: string[];
  /** Set when the listing failed. */
  error?: string;
}

/** A fetch: the topology's own (`DrillEnv.fetch`, which trusts its CA under `cellctl up --tls`) or Node's. */
export type ListFetch = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * Lists every order of `market` through a data-plane replica at `baseUrl`, page by page (the
 * list API's keyset cursor, 200 a page), and notes which cell answered. Pass the topology's
 * `fetch`: behind an HTTPS edge Node's own refuses the topology's CA ("fetch failed").
 */
export async function listMarket(baseUrl: string, market: string, owner: string, fetchFn: ListFetch = fetch): Promise<MarketListing> {
  const listing: MarketListing = { market, owner, answeredBy: '', ids: [] };
  let cursor: string | null = null;
  try {
    do {
      const url: string = `${baseUrl}/v1/orders?market=${encodeURIComponent(market)}&limit=200${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await fetchFn(url, { headers: { 'x-market-id': market }, signal: AbortSignal.timeout(15_000) });
      const cell = res.headers.get('x-cell-id') ?? '';
      if (listing.answeredBy && cell !== listing.answeredBy) listing.answeredBy += `,${cell}`;
      else listing.answeredBy ||= cell;
      if (!res.ok) throw new Error(`${res.status} ${(await res.text()).slice(0, 200)}`);
      const page = (await res.json()) as { orders: { id: string }[]; nextCursor: string | null };
      listing.ids.push(...page.orders.map((o) => o.id));
      cursor = page.nextCursor;
    } while (cursor);
  } catch (err) {
    listing.error = (err as Error).message;
  }
  return listing;
}

/** What the comparison found. */
export interface OrderCount {
  /** Orders the load was answered 201 for. */
  created: number;
  /** Of those, not listed by the owning cell. */
  lost: number;
  /** Extra copies: an order listed more than once, and extra orders created under one key. */
  duplicated: number;
  /** Markets whose listing failed or was answered by another cell than the owner. */
  unchecked: string[];
  examples: { lost: string[]; duplicated: string[] };
}

/**
 * Compares the created orders with the owning cells' listings. An order is lost when its
 * market's owner does not list it, duplicated once for every listing of it beyond the first, and
 * an Idempotency-Key answered with more than one order ID counts each ID beyond the first as a
 * duplicate (one customer request, two orders). Orders of a market whose listing failed or came
 * from another cell than the owner are lost too: they were not found where they must be.
 */
export function countOrders(created: readonly CreatedOrder[], listings: readonly MarketListing[]): OrderCount {
  const found = new Map<string, Map<string, number>>();
  const unchecked: string[] = [];
  for (const l of listings) {
    if (l.error || l.answeredBy !== l.owner) {
      unchecked.push(
        `${l.market} (${l.error ? `listing failed: ${l.error}` : `answered by ${l.answeredBy || 'no cell'}, owner ${l.owner}`})`,
      );
      continue;
    }
    const ids = new Map<string, number>();
    for (const id of l.ids) ids.set(id, (ids.get(id) ?? 0) + 1);
    found.set(l.market, ids);
  }
  const out: OrderCount = { created: 0, lost: 0, duplicated: 0, unchecked, examples: { lost: [], duplicated: [] } };
  const seen = new Set<string>();
  const byKey = new Map<string, Set<string>>();
  for (const o of created) {
    if (o.key) byKey.set(o.key, (byKey.get(o.key) ?? new Set()).add(o.id));
    if (o.status !== 201 || seen.has(o.id)) continue;
    seen.add(o.id);
    out.created++;
    const n = found.get(o.market)?.get(o.id) ?? 0;
    if (n === 0) {
      out.lost++;
      if (out.examples.lost.length < 5) out.examples.lost.push(`${o.id} (${o.market})`);
    } else if (n > 1) {
      out.duplicated += n - 1;
      if (out.examples.duplicated.length < 5) out.examples.duplicated.push(`${o.id} listed ${n}× (${o.market})`);
    }
  }
  for (const [key, ids] of byKey) {
    if (ids.size < 2) continue;
    out.duplicated += ids.size - 1;
    if (out.examples.duplicated.length < 5) out.examples.duplicated.push(`key ${key}: ${[...ids].join(', ')}`);
  }
  return out;
}

/** The two verdicts: no order lost, none duplicated; no created order at all is no data. */
export function orderVerdicts(c: OrderCount): Verdict[] {
  const noData = c.created === 0 ? 'no data (no 201 create)' : undefined;
  const unchecked = c.unchecked.length ? `; unchecked: ${c.unchecked.slice(0, 3).join('; ')}` : '';
  return [
    {
      name: 'orders lost (every 201 create listed by its owning cell)',
      pass: c.created > 0 && c.lost === 0,
      measured: noData ?? `${c.lost} of ${c.created}${c.examples.lost.length ? ` (e.g. ${c.examples.lost.join(', ')})` : ''}${unchecked}`,
      threshold: '0',
    },
    {
      name: 'orders duplicated (listed twice, or two orders for one key)',
      pass: c.created > 0 && c.duplicated === 0,
      measured: noData ?? `${c.duplicated}${c.examples.duplicated.length ? ` (e.g. ${c.examples.duplicated.join(', ')})` : ''}`,
      threshold: '0',
    },
  ];
}
