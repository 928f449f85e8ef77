/**
 * The per-dependency guard (cockatiel): a bulkhead bounds concurrent calls, a circuit breaker
 * opens after consecutive failures so a sick dependency is not hammered, and a timeout bounds
 * each call. While the breaker is open calls fail at once; the saga retries later.
 */
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ConsecutiveBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  bulkhead,
  circuitBreaker,
  handleAll,
  timeout,
  wrap,
  type CircuitBreakerPolicy,
} from 'cockatiel';

/** Options of {@link DependencyGuard}. */
export interface GuardOptions {
  name: string;
  /** Consecutive failures that open the breaker (default 5). */
  failures?: number;
  /** Open → half-open after this long (default 2000 ms). */
  halfOpenAfterMs?: number;
  /** Per-call timeout (default 2000 ms). */
  timeoutMs?: number;
  /** Concurrent calls (default 32) and queued calls (default 256). */
  concurrency?: number;
  queue?: number;
  onStateChange?: (open: boolean) => void;
}

/** A dependency call guarded by bulkhead + breaker + timeout. */
export class DependencyGuard {
  readonly name: string;
  private readonly breaker: CircuitBreakerPolicy;
  private readonly policy: ReturnType<typeof wrap>;

  constructor(opts: GuardOptions) {
    this.name = opts.name;
    this.breaker = circuitBreaker(handleAll, {
      halfOpenAfter: opts.halfOpenAfterMs ?? 2000,
      breaker: new ConsecutiveBreaker(opts.failures ?? 5),
    });
    this.breaker.onStateChange((s) => opts.onStateChange?.(s !== CircuitState.Closed));
    this.policy = wrap(
      bulkhead(opts.concurrency ?? 32, opts.queue ?? 256),
      this.breaker,
      timeout(opts.timeoutMs ?? 2000, TimeoutStrategy.Aggressive),
    );
  }

  /** True unless the breaker is closed. */
  get open(): boolean {
    return this.breaker.state !== CircuitState.Closed;
  }

  /** Runs `fn` through the guard; rejects at once when the breaker is open or the bulkhead is full. */
  execute<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    // A fresh parent signal per call: cockatiel's default is one shared signal that every
    // concurrent call hangs a listener on (MaxListenersExceededWarning past 10).
    return this.policy.execute(({ signal }) => fn(signal), new AbortController().signal) as Promise<T>;
  }
}

/** True for the guard's own rejections (breaker open, bulkhead full, timeout), as opposed to the dependency's errors. */
export function isGuardRejection(err: unknown): boolean {
  return err instanceof BrokenCircuitError || err instanceof BulkheadRejectedError || err instanceof TaskCancelledError;
}
