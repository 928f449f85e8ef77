/**
 * Liveness check of a cell that looks stalled (stall.ts): is its process answering at all? A
 * probe (`GET /healthz`, sent by the proxy) tells two cases apart that look the same from the
 * /v1 requests alone:
 * - hung: the process answers its health endpoint but not the requests (a wedged handler, a
 *   lock, the `hang` fault) — isolate at once;
 * - busy: nothing answers, not even /healthz — the event loop is blocked (a market import, a
 *   long synchronous write, a starved CPU). Its requests are queued in the socket and will be
 *   answered when the loop is free, so the router waits up to `busyMs` before calling it hung
 *   rather than failing requests a working cell is about to answer;
 * - unreachable: nothing answers and no new TCP connection to it opens either (a cut or
 *   black-holed host: its kernel, unlike a blocked process's, completes no handshake) — nothing
 *   queued there will be answered, so isolate at once, as for a hung cell.
 * Only a probe sent after the cell went silent counts; one probe at a time per cell. An answer
 * counts only once it is `settleMs` old with the cell still silent: when a blocked loop frees
 * up, it may answer the probe a moment before the requests queued ahead of it, and that is a
 * busy cell catching up, not a hung one (any answer to a request ends the silence).
 */

/** What a probe round says about the cell's process. */
export type LivenessVerdict = 'alive' | 'silent' | 'unreachable' | 'pending';

/** A probe's answer: true (answered), false (not answered), or no connection could be opened. */
export type ProbeAnswer = boolean | 'unreachable';

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
  private unreachable = false;

  constructor(opts: LivenessOptions = {}) {
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 250;
    this.settleMs = opts.settleMs ?? 100;
    this.now = opts.now ?? Date.now;
  }

  /**
   * The verdict about the process since `silentSince` (when the cell went silent): `alive` when a
   * probe sent since then was answered at least `settleMs` ago; `unreachable` when the last one
   * ended without a connection; `silent` when one went unanswered for `probeTimeoutMs`;
   * else `pending` — and a probe is started with `probe` (resolves true when answered) if none runs.
   */
  check(silentSince: number, probe: () => Promise<ProbeAnswer>): LivenessVerdict {
    const now = this.now();
    if (this.aliveAt >= silentSince && this.probeStartedAt >= silentSince) return now - this.aliveAt >= this.settleMs ? 'alive' : 'pending';
    if (this.probeStartedAt >= silentSince) {
      if (!this.probing && this.unreachable) return 'unreachable';
      if (now - this.probeStartedAt >= this.probeTimeoutMs) {
        if (!this.probing) this.start(now, probe); // the last one ended unanswered: ask again
        return 'silent';
      }
      return 'pending';
    }
    if (!this.probing) this.start(now, probe);
    return 'pending';
  }

  private start(now: number, probe: () => Promise<ProbeAnswer>): void {
    this.probing = true;
    this.probeStartedAt = now;
    const startedAt = now;
    probe().then(
      (answer) => {
        this.probing = false;
        this.unreachable = answer === 'unreachable';
        if (answer === true && startedAt === this.probeStartedAt) this.aliveAt = this.now();
      },
      () => void (this.probing = false),
    );
  }
}
