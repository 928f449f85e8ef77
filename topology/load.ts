/**
 * A bounded, loopback-only order load for the operator tests (operators.test.ts; the benchmark
 * uses vegeta through order-load.ts): POST /v1/orders round-robin over data-plane URLs (routers
 * and Envoys) and markets, each with its own Idempotency-Key. A client that honours
 * `Retry-After`: a 503 with it is retried with the same key (at most `retries` times), so a held
 * or refused request during a migration only counts as failed if it never succeeds. With
 * `keyHeader`, each request also carries its customer's id in that header (a market moving by
 * share splits on it) and a `409 market_frozen` with `Retry-After` (a frozen bucket range) is
 * retried the same way.
 */
import { Agent, fetch } from 'undici';

/** One finished request. */
export interface LoadResult {
  market: string;
  target: string;
  key: string;
  status: number;
  /** The order id when created (201) or replayed (200). */
  orderId?: string;
  cell?: string;
  attempts: number;
  ms: number;
  /** When the first attempt was sent (epoch ms). */
  sentAt: number;
  error?: string;
}

/** Options of {@link startLoad}. */
export interface LoadOptions {
  targets: string[];
  markets: string[];
  /** Requests per second in total (bounded: at most 500). */
  rps: number;
  /** Stops by itself after this long (bounded: at most 5 minutes). */
  maxMs: number;
  retries?: number;
  /** Also GET each created order back (reads exercise GET routes for the SLO). */
  readBack?: boolean;
  /** Send the customer's id in this header too (docs/weighted-shifts.md §Market moves by share). */
  keyHeader?: string;
}

/** A running load. */
export interface Load {
  readonly results: LoadResult[];
  /** Stops sending and waits for requests in flight. */
  stop(): Promise<LoadResult[]>;
}

const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 10_000 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new Error(`load goes to loopback only, not ${host}`);
}

/** The customer of a load request's idempotency key. */
export function customerOf(key: string): string {
  return `cust-${key.slice(-4)}`;
}

async function once(
  target: string,
  market: string,
  key: string,
  retries: number,
  readBack: boolean,
  keyHeader: string | undefined,
): Promise<LoadResult> {
  const started = performance.now();
  const sentAt = Date.now();
  const customer = customerOf(key);
  const keyed: Record<string, string> = keyHeader ? { [keyHeader]: customer } : {};
  const body = JSON.stringify({
    customerId: customer,
    items: [{ sku: 'burrito', qty: 1, priceCents: 1299 }],
    address: '1 Market St',
  });
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      const res = await fetch(`${target}/v1/orders`, {
        method: 'POST',
        headers: { 'x-market-id': market, 'idempotency-key': key, 'content-type': 'application/json', ...keyed },
        body,
        signal: AbortSignal.timeout(15_000),
        dispatcher,
      });
      const text = await res.text();
      const retryAfter = res.headers.get('retry-after');
      const frozen = keyHeader !== undefined && res.status === 409 && text.includes('market_frozen');
      if ((res.status === 503 || frozen) && retryAfter !== null && attempts <= retries) {
        await sleep(Math.min(2000, Number(retryAfter) * 1000 || 200));
        continue;
      }
      const out: LoadResult = {
        market,
        target,
        key,
        status: res.status,
        attempts,
        ms: performance.now() - started,
        sentAt,
        cell: res.headers.get('x-cell-id') ?? undefined,
      };
      if (res.status === 201 || res.status === 200) out.orderId = (JSON.parse(text) as { id: string }).id;
      else out.error = text.slice(0, 200);
      if (readBack && out.orderId) {
        const r = await fetch(`${target}/v1/orders/${out.orderId}`, {
          headers: { 'x-market-id': market, ...keyed },
          signal: AbortSignal.timeout(15_000),
          dispatcher,
        });
        await r.arrayBuffer();
      }
      return out;
    } catch (err) {
      if (attempts <= retries) {
        await sleep(200);
        continue;
      }
      return { market, target, key, status: 0, attempts, ms: performance.now() - started, sentAt, error: (err as Error).message };
    }
  }
}

/** Starts the load; it runs until `stop()` or `maxMs`. */
export function startLoad(o: LoadOptions): Load {
  o.targets.forEach(assertLoopback);
  const rps = Math.min(500, Math.max(1, o.rps));
  const maxMs = Math.min(300_000, o.maxMs);
  const results: LoadResult[] = [];
  const inflight = new Set<Promise<void>>();
  const run = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  let stopped = false;
  let i = 0;
  const end = Date.now() + maxMs;
  const loop = (async () => {
    const t0 = Date.now();
    while (!stopped && Date.now() < end) {
      const target = o.targets[i % o.targets.length]!;
      const market = o.markets[Math.floor(i / o.targets.length) % o.markets.length]!;
      const p = once(target, market, `load-${run}-${i}`, o.retries ?? 5, o.readBack === true, o.keyHeader).then(
        (r) => void results.push(r),
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      i++;
      const due = t0 + (i * 1000) / rps;
      if (due > Date.now()) await sleep(due - Date.now());
    }
  })();
  return {
    results,
    async stop() {
      stopped = true;
      await loop;
      await Promise.all([...inflight]);
      return results;
    },
  };
}
