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
  /** k6's own verdicts: exit code and each threshold's result. */
  k6: { exitCode: number; thresholds: Record<string, boolean> };
  /** Planned traffic share per cell (from market weights). */
  plannedShares: Record<string, number>;
  events: DrillEvent[];
  analysis: Analysis;
  files: { points: string; summary: string; dashboard?: string; html: string; json: string };
}
