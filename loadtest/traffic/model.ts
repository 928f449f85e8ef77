/**
 * The drill traffic model: what each next request is, and what the model learns from each
 * answer. Open model: the arrival rate is vegeta's; the model only says what to send.
 *
 * Every arrival picks a market (weighted, uneven like real markets), a plane replica (round robin
 * over the planes' replicas, as a load balancer would, skipping one that refused connections a
 * moment ago) and one operation of a realistic mix: create an order with an Idempotency-Key (its
 * answer schedules a read-back of that order), read a known order, list the market's orders,
 * cancel one. A refused connection (nothing sent) is sent again to another replica of the same
 * plane (a failover); a `503 market_migrating` is sent again after its Retry-After (a retry).
 * Both are counted, never hidden. Follow-ups take the next arrivals, so the rate holds.
 *
 * Memory is bounded whatever the run's length: at most 50 known orders per market, follow-ups
 * capped, and a request is forgotten once its answer came.
 */
import { answerCode, notSent, taggedUrl, urlTags, type VegetaResult, type VegetaTarget } from '../../infra/vegeta/index.js';
import type { MarketWeight, Target, TrafficConfig } from '../plan.js';
import { requestPoint, type FailoverPoint, type RequestPoint, type RetryPoint } from '../points.js';

type Op = 'create' | 'read' | 'get' | 'list' | 'cancel';

/** One planned request. */
interface Planned {
  n: number;
  market: MarketWeight;
  op: Op;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  headers: Record<string, string>;
  target: Target;
  attempt: 'first' | 'failover' | 'retry';
  retries: number;
  /** Not before this time (a retry waits for its Retry-After). */
  notBefore: number;
}

/** What one answer turned into. */
export type Outcome =
  | { kind: 'request'; point: RequestPoint }
  | { kind: 'failover'; point: FailoverPoint }
  | { kind: 'retry'; point: RetryPoint }
  | { kind: 'unknown' };

const KNOWN_PER_MARKET = 50;
/** Follow-ups kept at most; read-backs past it are dropped (counted). */
const MAX_FOLLOW_UPS = 10_000;

/** Cumulative weights for a weighted pick. */
function cumulative(weights: number[]): { cum: number[]; total: number } {
  const cum: number[] = [];
  let total = 0;
  for (const w of weights) {
    total += w;
    cum.push(total);
  }
  return { cum, total };
}

function pickIndex(c: { cum: number[]; total: number }, x: number): number {
  const v = x * c.total;
  for (let i = 0; i < c.cum.length; i++) if (v < (c.cum[i] ?? 0)) return i;
  return c.cum.length - 1;
}

/** The traffic model of one drill run. */
export class TrafficModel {
  private readonly marketPick: { cum: number[]; total: number };
  private readonly ops: Array<'create' | 'get' | 'list' | 'cancel'>;
  private readonly opPick: { cum: number[]; total: number };
  private readonly known = new Map<string, string[]>();
  private readonly downUntil = new Map<string, number>();
  private readonly inFlight = new Map<number, Planned>();
  private readonly followUps: Planned[] = [];
  private seq = 0;
  private rr = 0;
  /** Read-backs not made because the follow-up queue was full. */
  droppedFollowUps = 0;

  constructor(
    private readonly cfg: TrafficConfig,
    private readonly random: () => number = Math.random,
  ) {
    this.marketPick = cumulative(cfg.markets.map((m) => m.weight));
    this.ops = (['create', 'get', 'list', 'cancel'] as const).filter((op) => cfg.mix[op] > 0);
    this.opPick = cumulative(this.ops.map((op) => cfg.mix[op]));
    if (this.ops.length === 0) throw new Error('traffic plan: the mix has no positive weight');
  }

  /** Requests sent and not answered yet. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** The next request to send at `now`, as a vegeta target. */
  next(now: number): VegetaTarget {
    const i = this.followUps.findIndex((f) => f.notBefore <= now);
    const p = i >= 0 ? this.followUps.splice(i, 1)[0]! : this.fresh();
    this.inFlight.set(p.n, p);
    return this.toTarget(p);
  }

  /** Learns from one answer; says what it was. */
  onResult(r: VegetaResult, now: number): Outcome {
    const n = Number(urlTags(r.url).n);
    const p = this.inFlight.get(n);
    if (!p) return { kind: 'unknown' };
    this.inFlight.delete(n);
    if (notSent(r)) {
      this.downUntil.set(p.target.replica, now + this.cfg.replicaDownMs);
      const other = p.attempt === 'first' ? this.pickTarget(p.market, p.target.plane, p.target.replica) : undefined;
      if (other) {
        this.followUp({ ...p, n: ++this.seq, target: other, attempt: 'failover', notBefore: 0 }, true);
        return { kind: 'failover', point: { time: r.start, plane: p.target.plane, replica: p.target.replica } };
      }
    }
    const code = answerCode(r);
    if (r.code === 503 && code === 'market_migrating' && this.cfg.honourRetryAfter && p.retries < this.cfg.maxRetries) {
      const after = Number(r.headers['retry-after'] ?? 1);
      const waitS = Math.min(Math.max(Number.isFinite(after) ? after : 1, 0.05), this.cfg.maxRetryAfterS);
      this.followUp({ ...p, n: ++this.seq, attempt: 'retry', retries: p.retries + 1, notBefore: now + waitS * 1000 }, true);
      return { kind: 'retry', point: { time: r.start, market: p.market.id, owner: p.market.cell, plane: p.target.plane, code } };
    }
    if (p.op === 'create' && r.code >= 200 && r.code < 300) {
      const id = orderId(r.body);
      if (id) {
        this.remember(p.market.id, id);
        this.followUp(this.plan(p.market, 'read', 'GET', `/v1/orders/${encodeURIComponent(id)}`));
      }
    }
    return { kind: 'request', point: requestPoint(r, this.cfg.faultCells) };
  }

  private followUp(p: Planned, must = false): void {
    if (!must && this.followUps.length >= MAX_FOLLOW_UPS) {
      this.droppedFollowUps++;
      return;
    }
    this.followUps.push(p);
  }

  private fresh(): Planned {
    const market = this.cfg.markets[pickIndex(this.marketPick, this.random())]!;
    let op: Op = this.ops[pickIndex(this.opPick, this.random())]!;
    const mine = this.known.get(market.id) ?? [];
    if ((op === 'get' || op === 'cancel') && mine.length === 0) op = 'create';
    if (op === 'create') {
      const n = this.seq + 1;
      const body = {
        customerId: `cust-${n % 97}`,
        items: [{ sku: `sku-${n % 13}`, qty: 1 + (n % 3), priceCents: 250 + (n % 7) * 100 }],
        address: `${n % 200} Market Street, ${market.id}`,
      };
      return this.plan(market, 'create', 'POST', '/v1/orders', JSON.stringify(body), { 'Idempotency-Key': `${this.cfg.runId}-${n}` });
    }
    if (op === 'get') {
      const id = mine[Math.floor(this.random() * mine.length)]!;
      return this.plan(market, 'get', 'GET', `/v1/orders/${encodeURIComponent(id)}`);
    }
    if (op === 'list') return this.plan(market, 'list', 'GET', `/v1/orders?market=${encodeURIComponent(market.id)}&limit=20`);
    const idx = Math.floor(this.random() * mine.length);
    const id = mine.splice(idx, 1)[0]!;
    return this.plan(
      market,
      'cancel',
      'POST',
      `/v1/orders/${encodeURIComponent(id)}/cancel`,
      JSON.stringify({ reason: 'customer_request' }),
    );
  }

  private plan(
    market: MarketWeight,
    op: Op,
    method: 'GET' | 'POST',
    path: string,
    body?: string,
    extra: Record<string, string> = {},
  ): Planned {
    const target = this.pickTarget(market);
    if (!target) throw new Error(`traffic plan: no target can serve market ${market.id} (cell ${market.cell})`);
    const headers: Record<string, string> = { 'x-market-id': market.id, ...extra };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return { n: ++this.seq, market, op, method, path, body, headers, target, attempt: 'first', retries: 0, notBefore: 0 };
  }

  /** Round robin over the replicas (of `plane`, without `exclude`), preferring those not refusing lately. */
  private pickTarget(market: MarketWeight, plane?: string, exclude?: string): Target | undefined {
    const now = Date.now();
    const all = this.cfg.targets.filter(
      (t) => (plane ? t.plane === plane : true) && t.replica !== exclude && (!t.cell || t.cell === market.cell),
    );
    const up = all.filter((t) => !((this.downUntil.get(t.replica) ?? 0) > now));
    const pool = up.length > 0 ? up : all;
    if (pool.length === 0) return undefined;
    this.rr = (this.rr + 1) % 1_000_000;
    return pool[this.rr % pool.length];
  }

  private remember(market: string, id: string): void {
    const list = this.known.get(market) ?? [];
    list.push(id);
    if (list.length > KNOWN_PER_MARKET) list.shift();
    this.known.set(market, list);
  }

  private toTarget(p: Planned): VegetaTarget {
    const tags: Record<string, string> = {
      n: String(p.n),
      m: p.market.id,
      o: p.market.cell,
      p: p.target.plane,
      r: p.target.replica,
      op: p.op,
      a: p.attempt,
    };
    // A create's Idempotency-Key, so that two orders answered for one key can be found afterwards (the soak).
    const key = p.headers['Idempotency-Key'];
    if (key !== undefined) tags.k = key;
    return { method: p.method, url: taggedUrl(`${p.target.url}${p.path}`, tags), header: p.headers, body: p.body };
  }
}

/** The order ID of a create answer (`{id}` or `{order: {id}}`). */
function orderId(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { id?: unknown; order?: { id?: unknown } };
    const id = parsed.id ?? parsed.order?.id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}
