/**
 * Failure isolation per cell: each cell gets its own breaker, outlier detector, in-flight
 * bound and retry budget, so a dead or hanging cell costs the others nothing (no shared
 * queue, no shared socket pool, no shared budget).
 */
import { LastPassing } from '../../shared/last-passing.js';
import type { Endpoint } from '../../shared/routing-table.js';
import type { RouterMetrics } from '../metrics.js';
import { CircuitBreaker, type BreakerOptions, type BreakerState } from './breaker.js';
import { Liveness } from './liveness.js';
import { OutlierDetector, type OutlierOptions } from './outlier.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
import { StallDetector } from './stall.js';
import { StallWatch } from './stall-watch.js';

export { CircuitBreaker, Permit, type BreakerState } from './breaker.js';
export { judgeStall, type StallCut } from './stall-watch.js';
export type { ProbeAnswer } from './liveness.js';

/** Options of {@link Isolation}. */
export interface IsolationOptions {
  breaker?: BreakerOptions;
  outlier?: OutlierOptions;
  retry?: RetryBudgetOptions;
  /** Requests in flight to one cell at most [256]. */
  maxInflightPerCell?: number;
  /** A cell silent this long with requests waiting is stalled: breaker opens, ms [750] (stall.ts). */
  stallMs?: number;
  /** A stalled cell whose process answers nothing (a blocked event loop, liveness.ts) is waited for this long, ms [3000]. */
  busyMs?: number;
  /** With no passing instance, the last passing ones are still used this long, ms [60,000] (see {@link CellGuard.endpoints}). */
  panicMs?: number;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** The isolation state of one cell. */
export class CellGuard {
  readonly breaker: CircuitBreaker;
  readonly outliers: OutlierDetector;
  readonly retries: RetryBudget;
  readonly stall: StallDetector;
  readonly liveness = new Liveness();
  /** Cuts the cell off on a timer once it is stalled (not only when the next request comes). */
  readonly watch = new StallWatch(this);
  readonly busyMs: number;
  private readonly lastPassing: LastPassing;
  /** True while the last answer of {@link endpoints} was the remembered set. */
  panicking = false;
  inflight = 0;
  /** In-flight requests per endpoint id (for least-request choice). */
  readonly endpointInflight = new Map<string, number>();
  /** How to end each request waiting for the cell's headers (router/proxy/cut-off.ts). */
  readonly waiters = new Set<() => void>();

  constructor(
    readonly cell: string,
    readonly maxInflight: number,
    opts: IsolationOptions,
    metrics: RouterMetrics,
  ) {
    const gauge = metrics.breakerState.labels(cell);
    gauge.set(0);
    this.breaker = new CircuitBreaker(opts.breaker, (s) => gauge.set(STATE_VALUE[s]));
    this.outliers = new OutlierDetector(opts.outlier);
    this.retries = new RetryBudget(opts.retry);
    this.stall = new StallDetector({ stallMs: opts.stallMs });
    this.busyMs = opts.busyMs ?? 3000;
    this.lastPassing = new LastPassing(opts.panicMs ?? 60_000);
  }

  /**
   * The endpoints to send to: the passing ones; when none passes, the last passing set for up to
   * `panicMs` (Envoy's panic routing). A cell busy for a second fails its 1 s Consul check
   * while it still serves; routing around it would answer 503 for every one of its markets.
   * A dead cell refuses the connection and still gets `503 cell_unavailable` (and its breaker).
   */
  endpoints(passing: readonly Endpoint[], now = Date.now()): readonly Endpoint[] {
    const endpoints = this.lastPassing.endpoints(this.cell, passing, now);
    // Back from panic routing: an instance passes again, so probe the cell now rather than
    // wait out an open period doubled while it was down.
    if (this.panicking && passing.length > 0) this.breaker.expire();
    this.panicking = endpoints !== passing;
    return endpoints;
  }

  /**
   * The cell was cut off as unreachable: ends every request waiting on it (nothing queued on a
   * cut host will be answered); how many.
   */
  failWaiting(): number {
    const ends = [...this.waiters];
    this.waiters.clear();
    for (const end of ends) end();
    return ends.length;
  }
}

/** Every cell's guard, created on first use. */
export class Isolation {
  private readonly guards = new Map<string, CellGuard>();

  constructor(
    private readonly opts: IsolationOptions,
    private readonly metrics: RouterMetrics,
  ) {}

  /** The guard of `cell`. */
  cell(cell: string): CellGuard {
    let g = this.guards.get(cell);
    if (!g) this.guards.set(cell, (g = new CellGuard(cell, this.opts.maxInflightPerCell ?? 256, this.opts, this.metrics)));
    return g;
  }

  /** Breaker state of every cell seen so far. */
  states(): Record<string, { breaker: BreakerState; inflight: number }> {
    const out: Record<string, { breaker: BreakerState; inflight: number }> = {};
    for (const [cell, g] of this.guards) out[cell] = { breaker: g.breaker.state, inflight: g.inflight };
    return out;
  }
}
