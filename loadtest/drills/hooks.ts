/**
 * Optional hooks of a drill that plays its own timeline over the whole run (the soak), beyond
 * the common {@link Drill} shape: its own split of the run, and a look at vegeta's results after
 * the traffic (its own verdicts, and request points re-attributed to the owner of the moment).
 */
import type { RequestPoint } from '../points.js';
import type { Verdict } from '../verdicts.js';
import type { DrillContext } from './types.js';

/** What the engine gives a drill once the traffic stopped. */
export interface AfterTraffic {
  /** vegeta's per-request results (`results.json`). */
  resultsFile: string;
  /** The report directory (the drill may write files of its own there). */
  reportDir: string;
  /** Every request point, sorted by start. */
  requests: RequestPoint[];
}

/** What the drill gives back. */
export interface AfterTrafficResult {
  verdicts: Verdict[];
  /**
   * The points to analyse instead, each with `owner` set to the cell that owned its market when
   * it was sent; the engine then judges against these owners alone (no end-of-run owner map).
   */
  requests?: RequestPoint[];
}

/** Hooks a drill may add to {@link Drill}. */
export interface DrillHooks {
  /** Shares of the run before the fault window and of the window (engine options win when given). */
  phases?: { before: number; window: number };
  /** Called after the traffic stopped and `verify` ran, before the analysis. */
  afterTraffic?(ctx: DrillContext, run: AfterTraffic): Promise<AfterTrafficResult>;
}
