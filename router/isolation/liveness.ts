/**
 * Liveness check of a cell that looks stalled (stall.ts): is its process answering at all? A
 * probe (`GET /healthz`, sent by the proxy) tells two cases apart that look the same from the
 * /v1 requests alone:
 * - hung: the process answers its health endpoint but not the requests (a wedged handler, a
 *   lock, the `hang` fault) — isolate at once;
 * - busy: nothing answers, not even /healthz — the event loop is blocked (a market import, a
 *   long synchronous write, a starved CPU). Its requests are queued in the socket and will be
 *   answered when the loop is free, so the router waits up to `busyMs` before calling it hung
 *   rather than failing requests a working cell is about to answer.
 * Only a probe sent after the cell went silent counts; one probe at a time per cell. An answer
 * counts only once it is `settleMs` old with the cell still silent: when a blocked loop frees
 * up, it may answer the probe a moment before the requests queued ahead of it, and that is a
 * busy cell catching up, not a hung one (any answer to a request ends the silence).
 */

/** What a probe round says about the cell's process. */
export type LivenessVerdict = 'alive' | 'silent' | 'pending';

/** Options (defaults in brackets). */
export interface LivenessOptions {
  /** A probe unanswered this long means the process is not answering, ms [250]. */
  probeTimeoutMs?: number;
  /** A probe's answer counts once it is this old, ms [100]. */
  settleMs?: number;
  now?: () => number;
}

/** The liveness state of one cell (no timers; the proxy drives it). */
export class Liveness {
  readonly probeTimeoutMs: number;
  readonly settleMs: number;
  private readonly now: () => number;
  private probeStartedAt = -Infinity;
  private probing = false;
  private aliveAt = -Infinity;

  constructor(opts: LivenessOptions = {}) {
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 250;
    this.settleMs = opts.settleMs ?? 100;
    this.now = opts.now ?? Date.now;
  }

  /**
   * The verdict about the process since `silentSince` (when the cell went silent): `alive` when a
   * probe sent since then was answered at least `settleMs` ago; `silent` when one went unanswered for `probeTimeoutMs`;
   * else `pending` — and a probe is started with `probe` (resolves true when answered) if none runs.
   */
  check(silentSince: number, probe: () => Promise<boolean>): LivenessVerdict {
    const now = this.now();
    if (this.aliveAt >= silentSince && this.probeStartedAt >= silentSince) return now - this.aliveAt >= this.settleMs ? 'alive' : 'pending';
    if (this.probeStartedAt >= silentSince) {
      if (now - this.probeStartedAt >= this.probeTimeoutMs) {
        if (!this.probing) this.start(now, probe); // the last one ended unanswered: ask again
        return 'silent';
      }
      return 'pending';
    }
    if (!this.probing) this.start(now, probe);
    return 'pending';
  }

  private start(now: number, probe: () => Promise<boolean>): void {
    this.probing = true;
    this.probeStartedAt = now;
    const startedAt = now;
    probe().then(
      (answered) => {
        this.probing = false;
        if (answered && startedAt === this.probeStartedAt) this.aliveAt = this.now();
      },
      () => void (this.probing = false),
    );
  }
}
