/**
 * Stall detection per cell. A hung cell gives the breaker nothing to count: its requests never
 * fail, they just never answer (until a timeout 15 s later, or the client gives up and the
 * request is aborted, which is no verdict). The detector watches the requests waiting for
 * response headers: the cell is stalled when a request has waited `stallMs` and no answer at
 * all came from the cell for as long. A cell that is only slow keeps answering (its first
 * slow answer comes before `stallMs`), so `stallMs` must sit above the slowest answer a
 * working cell gives. Any answer (headers, or a transport error such as a refused or reset
 * connection) is progress; a timeout or an abort is not.
 */

/** Options (defaults in brackets). */
export interface StallOptions {
  /** No answer for this long with a request waiting that long: stalled, ms; 0 turns detection off [750]. */
  stallMs?: number;
  now?: () => number;
}

/** The stall detector of one cell (O(1) per request; no timers). */
export class StallDetector {
  readonly stallMs: number;
  private readonly now: () => number;
  /** Requests waiting for headers: token → start, in start order (Map keeps insertion order). */
  private readonly waiting = new Map<number, number>();
  private next = 0;
  private lastAnswer = 0;

  constructor(opts: StallOptions = {}) {
    this.stallMs = opts.stallMs ?? 750;
    this.now = opts.now ?? Date.now;
  }

  /** A request was sent to the cell; returns the token to pass to {@link settle}. */
  begin(): number {
    const token = this.next++;
    this.waiting.set(token, this.now());
    return token;
  }

  /** The request `token` ended: `answered` when the cell answered (headers or a transport error), false for a timeout or an abort. */
  settle(token: number, answered: boolean): void {
    this.waiting.delete(token);
    if (answered) this.lastAnswer = this.now();
  }

  /** Requests waiting for headers right now. */
  get waitingCount(): number {
    return this.waiting.size;
  }

  /** ms the cell has been busy without answering (0 when nothing waits). */
  silentMs(): number {
    const oldest = this.waiting.values().next();
    if (oldest.done) return 0;
    return Math.max(0, this.now() - Math.max(oldest.value, this.lastAnswer));
  }

  /** True while the cell is stalled: requests wait and nothing answered for `stallMs` (never when `stallMs` is 0). */
  stalled(): boolean {
    return this.stallMs > 0 && this.silentMs() >= this.stallMs;
  }
}
