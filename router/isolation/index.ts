/**
 * Failure isolation per cell: each cell gets its own breaker, outlier detector, in-flight
 * bound and retry budget, so a dead or hanging cell costs the others nothing (no shared
 * queue, no shared socket pool, no shared budget).
 */
import type { RouterMetrics } from '../metrics.js';
import { CircuitBreaker, type BreakerOptions, type BreakerState } from './breaker.js';
import { OutlierDetector, type OutlierOptions } from './outlier.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
import { StallDetector } from './stall.js';

export { CircuitBreaker, Permit, type BreakerState } from './breaker.js';

/** Options of {@link Isolation}. */
export interface IsolationOptions {
  breaker?: BreakerOptions;
  outlier?: OutlierOptions;
  retry?: RetryBudgetOptions;
  /** Requests in flight to one cell at most [256]. */
  maxInflightPerCell?: number;
  /** A cell silent this long with requests waiting is stalled: breaker opens, ms [750] (stall.ts). */
  stallMs?: number;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** The isolation state of one cell. */
export class CellGuard {
  readonly breaker: CircuitBreaker;
  readonly outliers: OutlierDetector;
  readonly retries: RetryBudget;
  readonly stall: StallDetector;
  inflight = 0;
  /** In-flight requests per endpoint id (for least-request choice). */
  readonly endpointInflight = new Map<string, number>();

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
