/**
 * A per-cell circuit breaker: closed → open → half-open → closed. Written here rather than
 * taken from cockatiel because the router needs a synchronous admission check on the hot
 * path (no promise wrapper per request), two trip rules (consecutive transport failures for a
 * dead cell; a failure ratio over a sliding window for a sick one, so a 20 % error rate does
 * not trip it by chance streaks), a Retry-After derived from the remaining open time, and an
 * injectable clock for tests.
 */

/** The breaker's state. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Admission result: rejected, a normal request, or a half-open probe. */
export const Permit = { Rejected: 0, Normal: 1, Probe: 2 } as const;
/** One of {@link Permit}'s values. */
export type Permit = (typeof Permit)[keyof typeof Permit];

/** Options (defaults in brackets). */
export interface BreakerOptions {
  /** Consecutive transport failures (refused, reset, timeout) that open it [5]. */
  consecutiveFailures?: number;
  /** Failure ratio over the window that opens it [0.5]... */
  failureRatio?: number;
  /** ...once the window holds at least this many requests [20]. */
  minRequests?: number;
  /** Sliding window, ms, in 10 buckets [10,000]. */
  windowMs?: number;
  /** First open period, ms; doubles after each failed probe [1,000]. */
  openMs?: number;
  /** Longest open period, ms [30,000]. */
  maxOpenMs?: number;
  /** Probes allowed at once when half-open [1]. */
  halfOpenProbes?: number;
  now?: () => number;
}

const BUCKETS = 10;

/** One cell's breaker. */
export class CircuitBreaker {
  state: BreakerState = 'closed';
  private consecutive = 0;
  private openUntil = 0;
  private openFor: number;
  private probes = 0;
  /** Open because of a stall (forceOpen), not because of failures. */
  private forced = false;
  /** Cut as unreachable: no client request goes until a TCP connection opens (connectDue/connected). */
  private connectFirst = false;
  private connecting = false;
  private readonly total = new Array<number>(BUCKETS).fill(0);
  private readonly failed = new Array<number>(BUCKETS).fill(0);
  private bucketAt = 0;
  private readonly o: Required<Omit<BreakerOptions, 'now'>>;
  private readonly now: () => number;

  constructor(
    opts: BreakerOptions = {},
    private readonly onState: (s: BreakerState) => void = () => undefined,
  ) {
    this.o = {
      consecutiveFailures: opts.consecutiveFailures ?? 5,
      failureRatio: opts.failureRatio ?? 0.5,
      minRequests: opts.minRequests ?? 20,
      windowMs: opts.windowMs ?? 10_000,
      openMs: opts.openMs ?? 1000,
      maxOpenMs: opts.maxOpenMs ?? 30_000,
      halfOpenProbes: opts.halfOpenProbes ?? 1,
    };
    this.now = opts.now ?? Date.now;
    this.openFor = this.o.openMs;
  }

  /** May a request go now? In half-open state only a bounded number of probes may. */
  acquire(): Permit {
    if (this.state === 'closed') return Permit.Normal;
    if (this.state === 'open') {
      if (this.connectFirst) return Permit.Rejected; // connected(true) ends the open period

      if (this.now() < this.openUntil) return Permit.Rejected;
      this.set('half-open');
      this.probes = 0;
    }
    if (this.probes >= this.o.halfOpenProbes) return Permit.Rejected;
    this.probes += 1;
    return Permit.Probe;
  }

  /** Records a success (a non-5xx answer). */
  success(permit: Permit): void {
    this.count(false);
    this.consecutive = 0;
    if (this.forced && this.state !== 'closed') {
      // Forced open by a stall, and now an answer: the cell was slow, not hung.
      this.forced = false;
      this.probes = 0;
      this.openFor = this.o.openMs;
      this.set('closed');
      return;
    }
    if (permit === Permit.Probe && this.state === 'half-open') {
      this.openFor = this.o.openMs;
      this.total.fill(0);
      this.failed.fill(0);
      this.set('closed');
    }
  }

  /** Records a failure: `transport` (no answer) or `status` (a 5xx answer). */
  failure(permit: Permit, kind: 'transport' | 'status'): void {
    this.count(true);
    if (kind === 'transport') this.consecutive += 1;
    if (permit === Permit.Probe && this.state === 'half-open') {
      this.openFor = Math.min(this.openFor * 2, this.o.maxOpenMs);
      this.trip();
      return;
    }
    if (this.state !== 'closed') return;
    if (this.consecutive >= this.o.consecutiveFailures) {
      this.trip();
      return;
    }
    const total = this.sum(this.total);
    if (total >= this.o.minRequests && this.sum(this.failed) / total >= this.o.failureRatio) this.trip();
  }

  /** A probe that ended without a verdict (client gone): lets another probe go. */
  release(permit: Permit): void {
    if (permit === Permit.Probe && this.probes > 0) this.probes -= 1;
  }

  /**
   * Opens the breaker on outside evidence (a stalled cell, see stall.ts). From half-open it
   * counts as a failed probe (longer open period); when already open, nothing changes but the
   * `unreachable` mark. The first success recorded afterwards (a waiting request answered after
   * all) closes it again. `unreachable` (no TCP connection to the cell opens: a cut host): the
   * half-open probe is a TCP connect, not a client request, which would only wait on the cut
   * host (see {@link connectDue}).
   */
  forceOpen(unreachable = false): void {
    if (this.state !== 'open') {
      if (this.state === 'half-open') this.openFor = Math.min(this.openFor * 2, this.o.maxOpenMs);
      this.trip();
      this.forced = true;
    }
    if (unreachable) this.connectFirst = true;
  }

  /**
   * True once per probe when the open period of a cell cut as unreachable is over: the caller
   * then tries a TCP connection to the cell and reports with {@link connected}. Client requests
   * are rejected meanwhile.
   */
  connectDue(): boolean {
    if (this.state !== 'open' || !this.connectFirst || this.connecting || this.now() < this.openUntil) return false;
    this.connecting = true;
    return true;
  }

  /**
   * The connect probe's result. Opened: the open period ends and the next client request is
   * the usual half-open probe. Not opened: open again for the first open period, not doubled
   * (a connect costs no client anything), so a host whose link comes back is found within it.
   */
  connected(ok: boolean): void {
    this.connecting = false;
    if (this.state !== 'open' || !this.connectFirst) return;
    if (ok) {
      this.connectFirst = false;
      this.openUntil = this.now();
    } else {
      this.openUntil = this.now() + this.o.openMs;
    }
  }

  /**
   * Ends the open period now (the next request is a half-open probe, or starts the connect probe
   * of a cell cut as unreachable) and forgets its doubling: new evidence that the cell may be back
   * (its instance passes its health check again).
   */
  expire(): void {
    this.openFor = this.o.openMs;
    if (this.state === 'open') this.openUntil = this.now();
  }

  /** Seconds a client should wait before retrying (at least 1). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.openUntil - this.now()) / 1000));
  }

  private trip(): void {
    this.forced = false;
    this.connectFirst = false;
    this.openUntil = this.now() + this.openFor;
    this.consecutive = 0;
    this.probes = 0;
    this.set('open');
  }

  private set(s: BreakerState): void {
    if (this.state === s) return;
    if (s === 'closed') this.connectFirst = false;
    this.state = s;
    this.onState(s);
  }

  private count(failed: boolean): void {
    const width = this.o.windowMs / BUCKETS;
    const slot = Math.floor(this.now() / width);
    if (slot !== this.bucketAt) {
      const steps = Math.min(BUCKETS, slot - this.bucketAt);
      for (let i = 1; i <= steps; i++) {
        const b = (this.bucketAt + i) % BUCKETS;
        this.total[b] = 0;
        this.failed[b] = 0;
      }
      this.bucketAt = slot;
    }
    const b = slot % BUCKETS;
    this.total[b] = (this.total[b] ?? 0) + 1;
    if (failed) this.failed[b] = (this.failed[b] ?? 0) + 1;
  }

  private sum(a: number[]): number {
    let s = 0;
    for (const v of a) s += v;
    return s;
  }
}
