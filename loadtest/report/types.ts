/** The report's shape: report.json is exactly a {@link DrillReport}. */
import type { Analysis } from '../analyze.js';
import type { Verdict } from '../verdicts.js';

/** Something the drill runner did, at a wall-clock time. */
export interface DrillEvent {
  t: number;
  what: string;
}

/** Everything one drill run produced; report.json is exactly this object. */
export interface DrillReport {
  drill: string;
  description: string;
  planes: string[];
  startedAt: string;
  rate: number;
  durationMs: number;
  faultCells: string[];
  pass: boolean;
  verdicts: Verdict[];
  /** How the load generator ended, and read-backs the model could not queue. */
  vegeta: { exitCode: number; droppedFollowUps: number };
  /** Planned traffic share per cell (from market weights). */
  plannedShares: Record<string, number>;
  events: DrillEvent[];
  analysis: Analysis;
  /** results.json: vegeta's per-request results (JSON lines); plot: `vegeta plot` HTML of them. */
  files: { results: string; plot?: string; html: string; json: string };
}
