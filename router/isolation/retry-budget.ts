/**
 * A retry budget (Finagle/Envoy style): every request deposits `ratio` of a retry, every
 * retry withdraws one, plus a small floor per second so a quiet cell can still retry. Keeps
 * retries from multiplying load on a cell that is already failing.
 */

/** Options (defaults in brackets). */
export interface RetryBudgetOptions {
  /** Retries earned per request [0.2]. */
  ratio?: number;
  /** Retries always allowed per second [5]. */
  minPerSecond?: number;
  /** Most retries banked [50]. */
  max?: number;
  now?: () => number;
}

/** One cell's retry budget. */
export class RetryBudget {
  private tokens: number;
  private last: number;
  private readonly ratio: number;
  private readonly minPerSecond: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(opts: RetryBudgetOptions = {}) {
    this.ratio = opts.ratio ?? 0.2;
    this.minPerSecond = opts.minPerSecond ?? 5;
    this.max = opts.max ?? 50;
    this.now = opts.now ?? Date.now;
    this.tokens = this.minPerSecond;
    this.last = this.now();
  }

  /** Called once per request. */
  deposit(): void {
    this.tokens = Math.min(this.max, this.tokens + this.ratio);
  }

  /** Takes one retry from the budget; false when it is spent. */
  withdraw(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.max, this.tokens + ((now - this.last) / 1000) * this.minPerSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
