/**
 * Stall detection per cell. A hung cell gives the breaker nothing to count: its requests never
 * fail, they just never answer (until a timeout 15 s later, or the client gives up and the
 * request is aborted, which is no verdict). The detector watches the requests waiting for
 * response headers: the cell is stalled when a request has waited the threshold and no answer
 * at all came from the cell for as long. Any answer (headers, or a transport error such as a
 * refused or reset connection) is progress; a timeout or an abort is not.
 *
 * The threshold follows the cell's own latency: `factor` × the p90 of its last answers, at
 * least `minStallMs` and at most `stallMs` — "far beyond what this cell normally takes". A
 * normally fast cell that stops answering is caught after `minStallMs` instead of the fixed
 * bound above the slowest working cell anywhere (`stallMs`), which still applies to slow cells
 * (a steadily slow cell keeps answering, so it is never silent that long) and until the cell
 * has given enough answers to judge. The price: a fast cell whose answers jump at once to more than the threshold (say
 * 30 ms → 600 ms) looks hung until its first slow answer; that answer lifts the stall at once
 * (breaker.ts: a breaker forced open by a stall closes on any answer).
 */

/** Options (defaults in brackets). */
export interface StallOptions {
  /** Threshold while the cell's latency is not known yet, ms; 0 turns detection off [750]. */
  stallMs?: number;
  /** Lowest threshold once the latency is known, ms [min(300, stallMs)]. */
  minStallMs?: number;
  /** Threshold = factor × p90 of the cell's recent answer times [3]. */
  factor?: number;
  now?: () => number;
}

/** Answer times kept per cell (a ring); the threshold is judged from at least MIN_SAMPLES of them. */
const SAMPLES = 16;
const MIN_SAMPLES = 8;

/** The stall detector of one cell (O(1) per request; no timers). */
export class StallDetector {
  readonly stallMs: number;
  readonly minStallMs: number;
  readonly factor: number;
  private readonly now: () => number;
  private readonly answers = new Float64Array(SAMPLES);
  private answered = 0;
  /** Requests waiting for headers: token → start, in start order (Map keeps insertion order). */
  private readonly waiting = new Map<number, number>();
  private next = 0;
  private lastAnswer = 0;

  constructor(opts: StallOptions = {}) {
    this.stallMs = opts.stallMs ?? 750;
    this.minStallMs = opts.minStallMs ?? Math.min(300, this.stallMs);
    this.factor = opts.factor ?? 3;
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
    const start = this.waiting.get(token);
    this.waiting.delete(token);
    if (!answered) return;
    const now = this.now();
    this.lastAnswer = now;
    if (start !== undefined) this.answers[this.answered++ % SAMPLES] = now - start;
  }

  /** How long the cell may stay silent with a request waiting before it is stalled, ms. */
  thresholdMs(): number {
    if (this.answered < MIN_SAMPLES) return this.stallMs;
    const recent = Array.from(this.answers.subarray(0, Math.min(this.answered, SAMPLES))).sort((a, b) => a - b);
    const p90 = recent[Math.floor(0.9 * (recent.length - 1))] ?? 0;
    return Math.min(this.stallMs, Math.max(this.minStallMs, this.factor * p90));
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

  /** True while the cell is stalled: requests wait and nothing answered for the threshold (never when `stallMs` is 0). */
  stalled(): boolean {
    if (this.stallMs <= 0) return false;
    const silent = this.silentMs();
    // the threshold is only computed on the rare path (silent longer than the lowest bound)
    return silent >= this.minStallMs && silent >= this.thresholdMs();
  }
}
