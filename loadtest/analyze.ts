/**
 * The drill figures, computed from k6's per-request points: per cell and per plane, before /
 * during / after the fault window; blast radius next to the faulted cells' traffic share; spill
 * (failures outside the faulted cells, with in-flight failures on a killed replica counted
 * apart); time to isolate and time to recover.
 */
import type { FailoverPoint, RequestPoint } from './points.js';
import { bins, groupBy, summarize, type Bin, type GroupStats } from './stats.js';

/** When the fault was active, and what it hit (epoch ms, as the drill runner saw it). */
export interface FaultWindow {
  start: number;
  end: number;
  /** Cells whose markets are expected to suffer (empty for infrastructure faults). */
  cells: string[];
  /** A data-plane replica that was killed at `start`. */
  killedReplica?: string;
}

/** How the analysis judges "fast" and "recovered". */
export interface AnalysisOptions {
  /** Time-bin width for isolation/recovery and the charts. */
  binMs: number;
  /** A faulted cell's request counts as answered fast at or under this many ms (p95 of a bin). */
  fastMs: number;
  /** Slack around a replica kill within which its failures count as in flight. */
  inFlightSlackMs: number;
}

/** Default analysis options. */
export const DEFAULT_ANALYSIS: AnalysisOptions = { binMs: 250, fastMs: 250, inFlightSlackMs: 300 };

type Phase = 'before' | 'during' | 'after';
/** Stats before, during and after the fault window. */
export type Phased = Record<Phase, GroupStats>;

/** Everything a drill measured. */
export interface Analysis {
  window: FaultWindow;
  run: { start: number; end: number };
  total: GroupStats;
  perCell: Record<string, Phased>;
  perPlane: Record<string, Phased>;
  perReplica: Record<string, GroupStats>;
  /** Share (0..1) of requests started in the window that failed, vs the faulted cells' share of them. */
  blastRadius: { failedShare: number; faultedTrafficShare: number; windowRequests: number; windowFailed: number };
  spill: { failed: number; byCode: Record<string, number>; byCell: Record<string, number>; examples: RequestPoint[] };
  inFlight: { failed: number; replica?: string };
  failovers: number;
  /** ms from fault start until the faulted cells' requests are answered fast, per plane; null = never. */
  timeToIsolateMs: Record<string, number | null>;
  /** ms from fault end until error rate and latency are back to their before-levels, per plane; null = never. */
  timeToRecoverMs: Record<string, number | null>;
  /** Per cell: bins over the whole run (for the charts). */
  series: Record<string, Bin[]>;
}

function phaseOf(p: RequestPoint, w: FaultWindow): Phase {
  return p.start < w.start ? 'before' : p.start < w.end ? 'during' : 'after';
}

function phased(points: RequestPoint[], w: FaultWindow): Phased {
  const g = groupBy(points, (p) => phaseOf(p, w));
  return { before: summarize(g.get('before') ?? []), during: summarize(g.get('during') ?? []), after: summarize(g.get('after') ?? []) };
}

/** First bin index from which every non-empty bin up to `last` satisfies `ok`; -1 if none. */
function settledFrom(series: Bin[], ok: (b: Bin) => boolean): number {
  let from = -1;
  for (let i = 0; i < series.length; i++) {
    const b = series[i];
    if (!b || b.requests === 0) continue;
    if (ok(b)) {
      if (from < 0) from = i;
    } else from = -1;
  }
  return from;
}

/**
 * Time to isolate: from fault start, the first bin after which every bin's p95 is fast. The last
 * `fastMs` of the window are left out: a request started there may look fast only because the
 * fault ended (a hang released), which proves nothing about isolation.
 */
export function timeToIsolate(faulted: RequestPoint[], w: FaultWindow, o: AnalysisOptions): number | null {
  const series = bins(faulted, w.start, w.end - o.fastMs, o.binMs);
  if (series.every((b) => b.requests === 0)) return null;
  const i = settledFrom(series, (b) => b.p95 <= o.fastMs);
  return i < 0 ? null : i * o.binMs;
}

/** Time to recover: from fault end, the first bin after which errors and p95 are back to the before-levels. */
export function timeToRecover(faulted: RequestPoint[], w: FaultWindow, runEnd: number, o: AnalysisOptions): number | null {
  const before = summarize(faulted.filter((p) => p.start < w.start));
  const errLimit = Math.max(before.errorRate + 0.01, 0.01);
  const p95Limit = Math.max(before.p95 * 2, before.p95 + 50, o.fastMs);
  const series = bins(faulted, w.end, runEnd, o.binMs);
  if (series.every((b) => b.requests === 0)) return null;
  const i = settledFrom(series, (b) => b.errorRate <= errLimit && b.p95 <= p95Limit);
  return i < 0 ? null : i * o.binMs;
}

/** Is this failure a request in flight on the killed replica at the moment of the kill? */
export function inFlightOnKill(p: RequestPoint, w: FaultWindow, slackMs: number): boolean {
  return w.killedReplica !== undefined && p.replica === w.killedReplica && p.start <= w.start + slackMs && p.end >= w.start - slackMs;
}

/** Computes every drill figure from the points of one run. */
export function analyze(
  points: { requests: RequestPoint[]; failovers: FailoverPoint[] },
  w: FaultWindow,
  opts: Partial<AnalysisOptions> = {},
): Analysis {
  const o = { ...DEFAULT_ANALYSIS, ...opts };
  const reqs = points.requests;
  const runStart = reqs.reduce((m, p) => Math.min(m, p.start), reqs[0]?.start ?? w.start);
  const runEnd = reqs.reduce((m, p) => Math.max(m, p.start), w.end);
  const faulted = (p: RequestPoint) => w.cells.includes(p.owner);

  const perCell: Record<string, Phased> = {};
  for (const [cell, ps] of groupBy(reqs, (p) => p.owner)) perCell[cell] = phased(ps, w);
  const perPlane: Record<string, Phased> = {};
  for (const [plane, ps] of groupBy(reqs, (p) => p.plane)) perPlane[plane] = phased(ps, w);
  const perReplica: Record<string, GroupStats> = {};
  for (const [r, ps] of groupBy(reqs, (p) => p.replica)) perReplica[r] = summarize(ps);

  const inWindow = reqs.filter((p) => p.start >= w.start && p.start < w.end);
  const windowFailed = inWindow.filter((p) => p.failed).length;
  const inFlight = reqs.filter((p) => p.failed && inFlightOnKill(p, w, o.inFlightSlackMs));
  const spilled = reqs.filter((p) => p.failed && !faulted(p) && !inFlightOnKill(p, w, o.inFlightSlackMs));
  const count = (ps: RequestPoint[], k: (p: RequestPoint) => string) => {
    const out: Record<string, number> = {};
    for (const p of ps) out[k(p)] = (out[k(p)] ?? 0) + 1;
    return out;
  };

  const timeToIsolateMs: Record<string, number | null> = {};
  const timeToRecoverMs: Record<string, number | null> = {};
  // Only a cell fault has a faulted cell to isolate and recover.
  for (const [plane, ps] of w.cells.length ? groupBy(reqs, (p) => p.plane) : new Map<string, RequestPoint[]>()) {
    const f = ps.filter(faulted);
    timeToIsolateMs[plane] = timeToIsolate(f, w, o);
    timeToRecoverMs[plane] = timeToRecover(f, w, runEnd, o);
  }
  const chartBin = Math.max(o.binMs, Math.ceil((runEnd - runStart) / 120 / 250) * 250);
  const series: Record<string, Bin[]> = {};
  for (const [cell, ps] of groupBy(reqs, (p) => p.owner)) series[cell] = bins(ps, runStart, runEnd + 1, chartBin);

  return {
    window: w,
    run: { start: runStart, end: runEnd },
    total: summarize(reqs),
    perCell,
    perPlane,
    perReplica,
    blastRadius: {
      failedShare: inWindow.length ? windowFailed / inWindow.length : 0,
      faultedTrafficShare: inWindow.length ? inWindow.filter(faulted).length / inWindow.length : 0,
      windowRequests: inWindow.length,
      windowFailed,
    },
    spill: {
      failed: spilled.length,
      byCode: count(spilled, (p) => p.code),
      byCell: count(spilled, (p) => p.owner),
      examples: spilled.slice(0, 5),
    },
    inFlight: { failed: inFlight.length, replica: w.killedReplica },
    failovers: points.failovers.length,
    timeToIsolateMs,
    timeToRecoverMs,
    series,
  };
}
