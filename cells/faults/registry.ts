/**
 * Injected faults of this cell process: each with a kind, a duration and an optional route and
 * market, listed until it expires or is cleared. The permanent `--defect` of a bad version lives here too.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isMarketId } from '../../shared/market.js';
import type { Defect } from '../../shared/defect.js';
import type { LockBurst } from './slow-db.js';

/** Fault kinds. `no-courier` (an extension) makes the simulated courier service find no courier. */
export const FAULT_KINDS = ['latency', 'errors', 'hang', 'crash', 'slow-db', 'no-courier'] as const;

/** The route value that targets the delivery dependency (the courier service) instead of HTTP traffic. */
export const DELIVERY_ROUTE = 'delivery';

/** The kinds that act on /v1 requests, the only ones a `market` can scope. */
const REQUEST_KINDS: readonly string[] = ['latency', 'errors', 'hang'];

/**
 * `POST /admin/faults` body. `market` scopes a request fault (latency, errors, hang) to the /v1
 * requests naming that market in `x-market-id`: the cell's other markets, and requests without
 * one (the edge's probe), go on (docs/cells.md §Faults).
 */
export const FaultInputSchema = z
  .object({
    kind: z.enum(FAULT_KINDS),
    durationMs: z.number().int().positive().max(86_400_000),
    latencyMs: z.number().int().min(0).max(600_000).optional(),
    jitterMs: z.number().int().min(0).max(600_000).optional(),
    errorRate: z.number().min(0).max(1).optional(),
    status: z.number().int().min(500).max(599).optional(),
    route: z.string().min(1).max(200).optional(),
    market: z.string().refine(isMarketId, 'not a market id').optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.market === undefined) return;
    if (!REQUEST_KINDS.includes(f.kind) || f.route === DELIVERY_ROUTE)
      ctx.addIssue({ code: 'custom', path: ['market'], message: `only a request fault (latency, errors, hang) on /v1 takes a market` });
  });
/** A validated fault request. */
export type FaultInput = z.infer<typeof FaultInputSchema>;

/** An active fault. */
export interface Fault extends FaultInput {
  id: string;
  createdAt: string;
  expiresAt: string;
}

interface Entry {
  fault: Fault;
  expires: number;
  match?: (method: string, path: string) => boolean;
  timer: NodeJS.Timeout;
}

/** `"POST /v1/orders/:id"` or `"/v1/orders"` → a matcher of (method, concrete path). */
export function routeMatcher(route: string): (method: string, path: string) => boolean {
  const m = /^([A-Z]+)\s+(\S+)$/.exec(route.trim());
  const method = m ? m[1]! : undefined;
  const pattern = m ? m[2]! : route.trim();
  const re = new RegExp(
    `^${pattern
      .split('/')
      .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')}/?$`,
  );
  return (meth, path) => (method === undefined || method === meth) && re.test(path);
}

/** The fault table of one process. */
export class FaultRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<() => void>();
  readonly defect: Defect | undefined;
  private readonly defectMatch: ((method: string, path: string) => boolean) | undefined;

  constructor(defect?: Defect) {
    this.defect = defect;
    this.defectMatch = defect?.route ? routeMatcher(defect.route) : undefined;
  }

  /** Calls `listener` after every change of the table: a fault added, removed, cleared or expired. Returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Adds a fault that ends `durationMs` from now. */
  add(input: FaultInput, now = Date.now()): Fault {
    const expires = now + input.durationMs;
    const fault: Fault = { id: randomUUID(), ...input, createdAt: new Date(now).toISOString(), expiresAt: new Date(expires).toISOString() };
    const routed = input.route !== undefined && input.route !== DELIVERY_ROUTE;
    const timer = setTimeout(() => this.expired(fault.id), Math.max(0, expires - Date.now()));
    timer.unref();
    this.entries.set(fault.id, { fault, expires, match: routed ? routeMatcher(input.route!) : undefined, timer });
    this.changed();
    return fault;
  }

  /** Active faults (expired ones dropped). */
  list(now = Date.now()): Fault[] {
    this.expire(now);
    return [...this.entries.values()].map((e) => e.fault);
  }

  /** Removes every fault; returns how many. */
  clear(): number {
    const n = this.entries.size;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
    if (n > 0) this.changed();
    return n;
  }

  /** Removes one fault; false when unknown. */
  remove(id: string): boolean {
    const e = this.entries.get(id);
    if (e === undefined) return false;
    clearTimeout(e.timer);
    this.entries.delete(id);
    this.changed();
    return true;
  }

  /** True while fault `id` is active. */
  isActive(id: string, now = Date.now()): boolean {
    const e = this.entries.get(id);
    return e !== undefined && e.expires > now;
  }

  /** The HTTP faults (latency, errors, hang) that apply to a /v1 request of `market` (its `x-market-id`, if any). */
  forRequest(method: string, path: string, market?: string, now = Date.now()): Fault[] {
    this.expire(now);
    const out: Fault[] = [];
    for (const e of this.entries.values()) {
      const k = e.fault.kind;
      if (k !== 'latency' && k !== 'errors' && k !== 'hang') continue;
      if (e.fault.route === DELIVERY_ROUTE) continue;
      if (e.fault.market !== undefined && e.fault.market !== market) continue;
      if (e.match === undefined || e.match(method, path)) out.push(e.fault);
    }
    return out;
  }

  /** True when the permanent defect applies to this request. */
  defectApplies(method: string, path: string): boolean {
    return this.defect !== undefined && (this.defectMatch === undefined || this.defectMatch(method, path));
  }

  /**
   * The version's defect when it is aimed at a delivery service's work (`route: "delivery"`): a
   * split cell's delivery service applies it to every order event it consumes (docs/kafka.md §Rolling out the delivery service).
   */
  eventDefect(): Defect | undefined {
    return this.defect?.route === DELIVERY_ROUTE ? this.defect : undefined;
  }

  /** Faults aimed at the delivery dependency: `route: "delivery"` latency/errors/hang, and `no-courier`. */
  forDelivery(now = Date.now()): Fault[] {
    this.expire(now);
    return [...this.entries.values()]
      .map((e) => e.fault)
      .filter((f) => f.kind === 'no-courier' || (f.route === DELIVERY_ROUTE && ['latency', 'errors', 'hang'].includes(f.kind)));
  }

  /**
   * How the database's write lock is held while `slow-db` faults are active (slow-db.ts): bursts
   * of the sum of their `latencyMs` (default 200 each) plus up to the sum of their `jitterMs`;
   * undefined when none is active.
   */
  lockBurst(now = Date.now()): LockBurst | undefined {
    this.expire(now);
    const slow = [...this.entries.values()].filter((e) => e.fault.kind === 'slow-db');
    if (slow.length === 0) return undefined;
    return {
      holdMs: slow.reduce((ms, e) => ms + (e.fault.latencyMs ?? 200), 0),
      jitterMs: slow.reduce((ms, e) => ms + (e.fault.jitterMs ?? 0), 0),
    };
  }

  /** Drops expired faults; listeners hear of each from its own timer (`expired`). */
  private expire(now: number): void {
    for (const [id, e] of this.entries) if (e.expires <= now) this.entries.delete(id);
  }

  private expired(id: string): void {
    this.entries.delete(id);
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/** Sleeps the latency a fault asks for: `latencyMs` plus a uniform jitter in [0, jitterMs]. */
export function faultDelay(f: { latencyMs?: number; jitterMs?: number }): Promise<void> {
  const ms = (f.latencyMs ?? 0) + Math.random() * (f.jitterMs ?? 0);
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/** Resolves when fault `id` has ended (expired or cleared). */
export async function waitUntilOver(registry: FaultRegistry, id: string): Promise<void> {
  while (registry.isActive(id)) await new Promise((r) => setTimeout(r, 50));
}
