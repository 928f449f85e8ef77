/**
 * When a stalled cell is cut off. The stall detector (stall.ts) says how long a cell has been
 * silent; the liveness probe (liveness.ts) says whether its process still answers. This module
 * turns the two into the decision "open the breaker now", and makes it on a timer as well as on
 * each new request: a replica that sends a hung cell a request only every few hundred
 * milliseconds would otherwise notice the stall only when the next one arrives, up to one
 * inter-arrival gap late (seen: 1,000 ms silent at a 300 ms threshold in the cell-hang drill).
 */
import type { CircuitBreaker } from './breaker.js';
import type { Liveness, ProbeAnswer } from './liveness.js';
import type { StallDetector } from './stall.js';

/** What the decision reads of a cell's guard. */
export interface StallSubject {
  readonly stall: StallDetector;
  readonly liveness: Liveness;
  readonly breaker: CircuitBreaker;
  /** A silent cell whose process answers nothing either is waited for this long, ms. */
  readonly busyMs: number;
}

/** Why a cell was cut off (logged once, when its breaker opens). */
export interface StallCut {
  silentMs: number;
  thresholdMs: number;
  waiting: number;
  /** The liveness verdict: `alive` (hung requests), `unreachable` (no connection opens) or `silent` (busy past busyMs). */
  process: string;
}

/** How often a cell is looked at once it has been silent for its threshold, ms. */
const POLL_MS = 25;

/**
 * Should `g` be cut off now? Starts the liveness probe (`probe`) at half the threshold, so its
 * answer is there when the threshold is. Cut: silent for the threshold and its process answers
 * (hung) or cannot be connected to (unreachable), or silent for `busyMs` whatever the probe says
 * (blocked for too long).
 */
export function judgeStall(g: StallSubject, probe: () => Promise<ProbeAnswer>, now = Date.now()): StallCut | undefined {
  if (g.stall.stallMs <= 0) return undefined;
  const silentMs = g.stall.silentMs();
  if (silentMs <= 0 || silentMs < g.stall.minStallMs / 2) return undefined;
  const thresholdMs = g.stall.thresholdMs();
  if (silentMs < thresholdMs / 2) return undefined;
  const verdict = g.liveness.check(now - silentMs, probe);
  const decided = verdict === 'alive' || verdict === 'unreachable';
  if (silentMs < thresholdMs || (!decided && silentMs < g.busyMs)) return undefined;
  return { silentMs, thresholdMs, waiting: g.stall.waitingCount, process: verdict };
}

/** When to look at `g` again, ms from now; undefined when none of its requests waits. */
export function nextLookMs(g: StallSubject): number | undefined {
  if (g.stall.stallMs <= 0 || g.stall.waitingCount === 0) return undefined;
  const silentMs = g.stall.silentMs();
  const half = Math.max(g.stall.minStallMs, g.stall.thresholdMs()) / 2;
  return silentMs < half ? Math.max(1, Math.ceil(half - silentMs)) : POLL_MS;
}

/**
 * Looks at one cell on a timer while any of its requests waits, and cuts it off (breaker forced
 * open, `onCut` called once) as soon as {@link judgeStall} says so. One unref'd timer per cell at
 * most; it stops by itself when nothing waits or the breaker is open.
 */
export class StallWatch {
  private timer: NodeJS.Timeout | undefined;
  private probe: () => Promise<ProbeAnswer> = async () => false;
  private onCut: (cut: StallCut) => void = () => undefined;

  constructor(private readonly g: StallSubject) {}

  /**
   * A request was sent: make sure the cell is being looked at. `probe` is its current liveness
   * probe; `onCut` hears when the timer cuts the cell off.
   */
  arm(probe: () => Promise<ProbeAnswer>, onCut: (cut: StallCut) => void): void {
    this.probe = probe;
    this.onCut = onCut;
    if (this.timer !== undefined) return;
    this.schedule();
  }

  /** Stops looking (the router is closing). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const ms = nextLookMs(this.g);
    if (ms === undefined) return;
    this.timer = setTimeout(() => this.look(), ms);
    this.timer.unref();
  }

  private look(): void {
    this.timer = undefined;
    if (this.g.breaker.state === 'open') return; // already cut off; the next request re-arms
    const cut = judgeStall(this.g, this.probe);
    if (cut) {
      this.g.breaker.forceOpen(cut.process === 'unreachable');
      this.onCut(cut);
      return;
    }
    this.schedule();
  }
}
