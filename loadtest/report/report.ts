/** The drill report: report.json (every figure) and report.html (self-contained, offline). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Analysis } from '../analyze.js';
import type { Verdict } from '../verdicts.js';
import { renderHtml } from './html.js';

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

/** Writes report.json and report.html into `dir`; returns their paths. */
export function writeReport(
  dir: string,
  report: Omit<DrillReport, 'files'> & { files: Omit<DrillReport['files'], 'html' | 'json'> },
): DrillReport {
  const full: DrillReport = { ...report, files: { ...report.files, html: join(dir, 'report.html'), json: join(dir, 'report.json') } };
  writeFileSync(full.files.json, `${JSON.stringify(full, null, 2)}\n`);
  writeFileSync(full.files.html, renderHtml(full));
  return full;
}

/** Reads k6's summary export and returns each threshold's pass/fail (k6 records `true` when it failed). */
export function thresholdResults(summary: unknown): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  const metrics = (summary as { metrics?: Record<string, { thresholds?: Record<string, boolean> }> }).metrics ?? {};
  for (const [name, m] of Object.entries(metrics)) {
    for (const [expr, failed] of Object.entries(m.thresholds ?? {})) out[`${name}: ${expr}`] = !failed;
  }
  return out;
}
