/**
 * The migration hold (docs/contracts.md §Request contract): requests for a frozen market wait here until the market's
 * record changes (the flip) or the hold bound passes. Bounded per market and in total, so a
 * long freeze cannot take the router's memory; a full queue answers at once.
 */

/** How a wait ended. */
export type HoldResult = 'released' | 'timeout' | 'full' | 'aborted';

/** Options (defaults in brackets). */
export interface HoldOptions {
  /** Longest hold, ms [2000]. */
  holdMs?: number;
  /** Requests held per market at most [1000]. */
  maxPerMarket?: number;
  /** Requests held in total at most [10,000]. */
  maxTotal?: number;
}

interface Waiter {
  resolve: (r: HoldResult) => void;
  timer: NodeJS.Timeout;
}

/** Held requests per market. */
export class HoldQueue {
  readonly holdMs: number;
  private readonly maxPerMarket: number;
  private readonly maxTotal: number;
  private readonly byMarket = new Map<string, Set<Waiter>>();
  private total = 0;

  constructor(opts: HoldOptions = {}) {
    this.holdMs = opts.holdMs ?? 2000;
    this.maxPerMarket = opts.maxPerMarket ?? 1000;
    this.maxTotal = opts.maxTotal ?? 10_000;
  }

  /** Requests held right now. */
  get size(): number {
    return this.total;
  }

  /** Waits until `market` is released, `timeoutMs` (default: the hold bound) passes, or `signal` aborts. */
  wait(market: string, timeoutMs: number = this.holdMs, signal?: AbortSignal): Promise<HoldResult> {
    let set = this.byMarket.get(market);
    if (this.total >= this.maxTotal || (set?.size ?? 0) >= this.maxPerMarket) return Promise.resolve('full');
    if (timeoutMs <= 0) return Promise.resolve('timeout');
    if (!set) this.byMarket.set(market, (set = new Set()));
    const waiters = set;
    return new Promise<HoldResult>((resolve) => {
      const done = (r: HoldResult) => {
        if (!waiters.delete(waiter)) return;
        this.total -= 1;
        clearTimeout(waiter.timer);
        if (waiters.size === 0 && this.byMarket.get(market) === waiters) this.byMarket.delete(market);
        signal?.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const onAbort = () => done('aborted');
      const waiter: Waiter = { resolve: done, timer: setTimeout(() => done('timeout'), timeoutMs) };
      waiters.add(waiter);
      this.total += 1;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Releases every request held for `market` (its record changed). */
  release(market: string): number {
    const set = this.byMarket.get(market);
    if (!set) return 0;
    const n = set.size;
    for (const w of [...set]) w.resolve('released');
    return n;
  }

  /** Releases everything (shutdown). */
  releaseAll(): void {
    for (const m of [...this.byMarket.keys()]) this.release(m);
  }
}
