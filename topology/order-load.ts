/**
 * A steady order load driven by vegeta (`infra/vegeta`): POST /v1/orders at a fixed rate,
 * round-robin over data-plane URLs (routers and Envoys) and markets, each order with its own
 * Idempotency-Key. vegeta does not retry; this load does, explicitly: a 503 with Retry-After is
 * sent again with the same key after the advertised delay (capped), at most `retries` times, and
 * every retry is counted. Retries take slots of the fixed rate (the rate counts every request
 * sent). Loopback only, or inside the client host's namespace of `cellctl up --hosts`; bounded in time.
 */
import { randomBytes } from 'node:crypto';
import {
  startPacedAttack,
  answerCode,
  taggedUrl,
  urlTags,
  vegetaReport,
  type VegetaReport,
  type VegetaResult,
  type VegetaTarget,
} from '../infra/vegeta/index.js';

/** One order: its last answer and how many times it was sent. */
export interface OrderOutcome {
  key: string;
  market: string;
  /** The data-plane URL it was sent to. */
  target: string;
  /** The last answer's HTTP status; 0 when none came (`error` says why). */
  status: number;
  attempts: number;
  /** When the first attempt was sent (epoch ms). */
  sentAt: number;
  /** The cell that answered (x-cell-id), when one did. */
  cell?: string;
  /** The error code from the answer's body, or vegeta's transport code. */
  error?: string;
  /** True when a retry was still due as the load ended. */
  givenUp?: boolean;
}

/** Options of {@link startOrderLoad}. */
export interface OrderLoadOptions {
  targets: string[];
  markets: string[];
  /** Requests per second, retries included (bounded: 1..500). */
  rate: number;
  /** Stops by itself after this long (bounded: at most 10 minutes). */
  maxMs: number;
  /** Retries of a 503 with Retry-After (default 5). */
  retries?: number;
  /** Where vegeta's result lines go. */
  resultsFile: string;
  /** vegeta's CPU list (taskset), if it should be pinned. */
  cpus?: string;
  /**
   * The network namespace vegeta runs in (the client host of `cellctl up --hosts`, whose edges it
   * targets at their host addresses); without it, every target must be on loopback.
   */
  netns?: string;
}

/** What the load did. */
export interface OrderLoadSummary {
  orders: OrderOutcome[];
  /** Requests vegeta sent (first attempts and retries). */
  requests: number;
  /** Retries sent. */
  retries: number;
  /** vegeta's own report of every request (latencies of each attempt). */
  report: VegetaReport;
  /** vegeta's CPU seconds. */
  vegetaCpuSec: number;
}

/** A running load. */
export interface OrderLoad {
  /** Stops new orders, lets due retries go out (up to 10 s), then waits for every answer (idempotent). */
  stop(): Promise<OrderLoadSummary>;
}

/** How far ahead of vegeta's pacer targets are written (a late target counts its wait as latency). */
const LEAD_MS = 300;
/** After stop(): how long fresh orders keep the pacer fed while retries are still due. */
const DRAIN_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new Error(`load goes to loopback only, not ${host}`);
}

/** Starts the load; it runs until `stop()` or `maxMs`. */
export function startOrderLoad(o: OrderLoadOptions): OrderLoad {
  // In a namespace of `cellctl up --hosts` the traffic stays inside the run's network.
  if (o.netns === undefined) o.targets.forEach(assertLoopback);
  const rate = Math.min(500, Math.max(1, o.rate));
  const maxMs = Math.min(600_000, o.maxMs);
  const maxRetries = o.retries ?? 5;
  const run = randomBytes(3).toString('hex');
  const orders = new Map<string, OrderOutcome>();
  const due: string[] = [];
  /** Orders whose retry waits for its Retry-After delay. */
  const waiting = new Set<string>();
  let retries = 0;
  let fresh = 0;
  let stopAt = Date.now() + maxMs;
  /** The target stream is closed: no retry can be sent any more. */
  let ended = false;
  const attack = startPacedAttack({
    rate,
    next: () => target(next()),
    leadMs: LEAD_MS,
    resultsFile: o.resultsFile,
    maxBody: 512,
    timeoutMs: 15_000,
    ...(o.cpus ? { cpus: o.cpus } : {}),
    ...(o.netns !== undefined ? { netns: o.netns } : {}),
    onResult,
  });

  function target(key: string): VegetaTarget {
    const ord = orders.get(key)!;
    const body = JSON.stringify({
      customerId: `cust-${key.slice(-4)}`,
      items: [{ sku: 'burrito', qty: 1, priceCents: 1299 }],
      address: '1 Market St',
    });
    return {
      method: 'POST',
      url: taggedUrl(`${ord.target}/v1/orders`, { k: key }),
      header: { 'x-market-id': ord.market, 'idempotency-key': key, 'content-type': 'application/json' },
      body,
    };
  }
  function next(): string {
    const key = due.shift();
    if (key !== undefined) {
      retries++;
      return key;
    }
    const i = fresh++;
    const k = `load-${run}-${i}`;
    orders.set(k, {
      key: k,
      market: o.markets[Math.floor(i / o.targets.length) % o.markets.length]!,
      target: o.targets[i % o.targets.length]!,
      status: 0,
      attempts: 0,
      sentAt: 0,
    });
    return k;
  }
  function onResult(r: VegetaResult): void {
    const ord = orders.get(urlTags(r.url).k ?? '');
    if (!ord) return;
    ord.attempts++;
    if (ord.attempts === 1) ord.sentAt = r.start;
    ord.status = r.code;
    const cell = r.headers['x-cell-id'];
    if (cell) ord.cell = cell;
    const code = r.code === 200 || r.code === 201 ? undefined : answerCode(r);
    if (code) ord.error = code;
    else delete ord.error;
    const retryAfter = r.headers['retry-after'];
    if (r.code === 503 && retryAfter !== undefined && ord.attempts <= maxRetries) {
      if (ended) {
        ord.givenUp = true;
        return;
      }
      waiting.add(ord.key);
      setTimeout(
        () => {
          if (waiting.delete(ord.key)) due.push(ord.key);
        },
        Math.min(2000, Number(retryAfter) * 1000 || 200),
      );
    }
  }

  let exited = false;
  attack.done.then(
    () => void (exited = true),
    () => void (exited = true),
  );
  // Feeding ends when the load is over and no retry is due or waiting (or DRAIN_MS after it).
  const writer = (async () => {
    while (!exited) {
      const now = Date.now();
      if (now >= stopAt && waiting.size === 0 && due.length === 0) break;
      if (now >= stopAt + DRAIN_MS) break;
      await sleep(20);
    }
    // Retries still due (or waiting for their delay) when the load ended are never sent.
    for (const key of [...due, ...waiting]) orders.get(key)!.givenUp = true;
    waiting.clear();
    ended = true;
    attack.end();
  })();

  let summary: Promise<OrderLoadSummary> | undefined;
  const finish = async (): Promise<OrderLoadSummary> => {
    stopAt = Math.min(stopAt, Date.now());
    await writer;
    const done = await attack.done;
    if (done.exitCode !== 0) throw new Error(`vegeta exited ${done.exitCode}: ${done.output.slice(-500)}`);
    return {
      orders: [...orders.values()].filter((x) => x.attempts > 0),
      requests: done.results,
      retries,
      report: await vegetaReport(o.resultsFile),
      vegetaCpuSec: done.cpuSec,
    };
  };
  return { stop: () => (summary ??= finish()) };
}
