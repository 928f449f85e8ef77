/**
 * The drill figures, computed from vegeta's per-request results: per cell and per plane, before /
 * during / after the fault window; blast radius next to the faulted cells' traffic share; spill
 * (failures outside the faulted cells, with in-flight failures on a killed replica counted
 * apart); wrong-cell answers (a success from a cell that did not own the market when the request
 * was sent, counted as a failure); the model's failovers and retries; time to isolate and time
 * to recover.
 */
import type { FailoverPoint, RequestPoint, RetryPoint } from './points.js';
import { bins, groupBy, summarize, type Bin, type GroupStats } from './stats.js';

/** When the fault was active, and what it hit (epoch ms, as the drill runner saw it). */
export interface FaultWindow {
  start: number;
  end: number;
  /** Cells whose markets are expected to suffer (empty for infrastructure faults). */
  cells: string[];
  /** A data-plane replica that was killed at `start`. */
  killedReplica?: string;
  /** Data-plane replicas killed later in the window, each at its own time. */
  laterKills?: { replica: string; at: number }[];
  /**
   * Markets whose owner changed during the run (market → owner at the end): inside the window
   * either owner may answer them, after it only the new one.
   */
  moved?: Record<string, string>;
}

/** What one run gives the analysis: the model's points and what the run set out to cover. */
export interface RunPoints {
  requests: RequestPoint[];
  failovers: FailoverPoint[];
  retries?: RetryPoint[];
  /** The planes driven: one with no request shows as "no data" instead of vanishing. */
  planes?: string[];
  /** The cells with planned traffic: one with no request shows as "no data" instead of vanishing. */
  cells?: string[];
}

/** How the analysis judges "fast" and "recovered". */
export interface AnalysisOptions {
  /** Time-bin width for isolation/recovery and the charts. */
  binMs: number;
  /** A faulted cell's request counts as answered fast at or under this many ms (p95 of a bin); a fixed number. */
  fastMs: number;
  /** Slack around a replica kill within which its failures count as in flight. */
  inFlightSlackMs: number;
}

/** Default analysis options. */
export const DEFAULT_ANALYSIS: AnalysisOptions = { binMs: 250, fastMs: 250, inFlightSlackMs: 300 };

type Phase = 'before' | 'during' | 'after';
/** Stats before, during and after the fault window. */
export type Phased = Record<Phase, GroupStats>;

/** 2xx answers from a cell that did not own the market when the request was sent. */
export interface WrongCell {
  /** Wrong-cell answers in the run (each also counted as a failed request, code `wrong_cell`). */
  count: number;
  /** By owning cell (the plan's owner), then by plane. */
  byCell: Record<string, Record<string, number>>;
  /** By plane; every plane driven is listed. */
  byPlane: Record<string, number>;
  /** 2xx answers checked, by plane (0 = no data to judge). */
  checkedByPlane: Record<string, number>;
  /** The first few, as sent and answered. */
  examples: { start: number; market: string; owner: string; answered: string; plane: string; replica: string }[];
}

/** A market whose owner changed during the run, and how often its new owner answered it. */
export interface MovedMarket {
  /** The owner when the drill started (the plan's). */
  from: string;
  /** The owner in Consul after the run. */
  to: string;
  /** 2xx answers from the new owner to requests started from the window on, per plane (every plane driven listed). */
  answeredByNewOwner: Record<string, number>;
}

/** Everything a drill measured. */
export interface Analysis {
  window: FaultWindow;
  run: { start: number; end: number };
  /** The planes driven (and any other plane seen in the results). */
  planes: string[];
  /** The cells with planned traffic (and any other owner seen in the results). */
  cells: string[];
  total: GroupStats;
  perCell: Record<string, Phased>;
  perPlane: Record<string, Phased>;
  /** The faulted cells' requests over every plane (empty without a faulted cell). */
  faulted: Phased;
  /** The faulted cells' requests, per plane (every plane driven; none without a faulted cell). */
  faultedPerPlane: Record<string, Phased>;
  wrongCell: WrongCell;
  /** Markets moved during the run (market → its move); empty when none moved. */
  moved: Record<string, MovedMarket>;
  perReplica: Record<string, GroupStats>;
  /** Share (0..1) of requests started in the window that failed, vs the faulted cells' share of them. */
  blastRadius: { failedShare: number; faultedTrafficShare: number; windowRequests: number; windowFailed: number };
  spill: { failed: number; byCode: Record<string, number>; byCell: Record<string, number>; examples: RequestPoint[] };
  /** Failures in flight on a killed replica at its kill, apart from spill; per owning cell too. */
  inFlight: { failed: number; replica?: string; byCell?: Record<string, number> };
  failovers: number;
  /** `503 market_migrating` answers the model sent again after their Retry-After (not in the request figures). */
  retries: { count: number; byCell: Record<string, number>; byPlane: Record<string, number> };
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

/**
 * The first bin from which the rest of the period is settled: that bin itself passes `okBin`,
 * and at most `maxBadShare` of the requests from its start to `to` are `bad` (so one slow
 * answer among thousands does not move the figure, but a hang that lasts does). -1 if none.
 */
function settledFrom(
  points: RequestPoint[],
  series: Bin[],
  okBin: (b: Bin, index: number) => boolean,
  bad: (p: RequestPoint, index: number) => boolean,
  from: number,
  binMs: number,
  maxBadShare: number,
): number {
  const idx = (p: RequestPoint) => Math.floor((p.start - from) / binMs);
  const inRange = points.filter((p) => idx(p) >= 0 && idx(p) < series.length);
  // Suffix counts per bin: requests and bad requests from bin k to the end.
  const total = new Array<number>(series.length + 1).fill(0);
  const badCount = new Array<number>(series.length + 1).fill(0);
  for (const p of inRange) {
    const k = idx(p);
    total[k] = (total[k] ?? 0) + 1;
    if (bad(p, k)) badCount[k] = (badCount[k] ?? 0) + 1;
  }
  for (let k = series.length - 1; k >= 0; k--) {
    total[k] = (total[k] ?? 0) + (total[k + 1] ?? 0);
    badCount[k] = (badCount[k] ?? 0) + (badCount[k + 1] ?? 0);
  }
  for (let k = 0; k < series.length; k++) {
    const b = series[k];
    if (!b || b.requests === 0 || !okBin(b, k)) continue;
    if ((badCount[k] ?? 0) <= maxBadShare * (total[k] ?? 0)) return k;
  }
  return -1;
}

/** Share of the remaining requests allowed to be slow or failed once a period is "settled". */
const SETTLED_BAD_SHARE = 0.05;

/**
 * Time to isolate: from fault start, the first bin whose p95 for the faulted cell is fast (at most
 * `fastMs`, a fixed number: a busy machine does not loosen it) and after which at most 5% of its
 * requests are slower than that. The last `fastMs` of the window are left out: a request started
 * there may look fast only because the fault ended (a hang released), which proves nothing.
 */
export function timeToIsolate(faulted: RequestPoint[], w: FaultWindow, o: AnalysisOptions): number | null {
  const to = w.end - o.fastMs;
  const series = bins(faulted, w.start, to, o.binMs);
  if (series.every((b) => b.requests === 0)) return null;
  const i = settledFrom(
    faulted,
    series,
    (b) => b.p95 <= o.fastMs,
    (p) => p.ms > o.fastMs,
    w.start,
    o.binMs,
    SETTLED_BAD_SHARE,
  );
  return i < 0 ? null : i * o.binMs;
}

/**
 * Time to recover: from fault end, the first bin where the faulted cell's error rate is back to
 * its before-level (+1 point) and its p95 within max(2× before, before + 50 ms, 1.5× the other
 * cells' p95 in that bin), after which the failed share stays within the before-level (+1 point)
 * and at most 5% of requests are slow.
 */
export function timeToRecover(
  faulted: RequestPoint[],
  others: RequestPoint[],
  w: FaultWindow,
  runEnd: number,
  o: AnalysisOptions,
): number | null {
  const before = summarize(faulted.filter((p) => p.start < w.start));
  const errLimit = Math.max(before.errorRate + 0.01, 0.01);
  const p95Base = Math.max(before.p95 * 2, before.p95 + 50, o.fastMs);
  const series = bins(faulted, w.end, runEnd + 1, o.binMs);
  const reference = bins(others, w.end, runEnd + 1, o.binMs);
  if (series.every((b) => b.requests === 0)) return null;
  const limit = (k: number) => Math.max(p95Base, (reference[k]?.p95 ?? 0) * 1.5);
  const okBin = (b: Bin, k: number) => b.errorRate <= errLimit && b.p95 <= limit(k);
  const tail = faulted.filter((p) => p.start >= w.end);
  const slow = settledFrom(tail, series, okBin, (p, k) => p.ms > limit(k), w.end, o.binMs, SETTLED_BAD_SHARE);
  const failing = settledFrom(tail, series, okBin, (p) => p.failed, w.end, o.binMs, errLimit);
  const i = Math.max(slow, failing);
  return slow < 0 || failing < 0 ? null : i * o.binMs;
}

/** Every data-plane replica kill of the window, with its time. */
export function replicaKills(w: FaultWindow): { replica: string; at: number }[] {
  return [...(w.killedReplica !== undefined ? [{ replica: w.killedReplica, at: w.start }] : []), ...(w.laterKills ?? [])];
}

/** Is this failure a request in flight on a killed replica at the moment of its kill? */
export function inFlightOnKill(p: RequestPoint, w: FaultWindow, slackMs: number): boolean {
  return replicaKills(w).some((k) => p.replica === k.replica && p.start <= k.at + slackMs && p.end >= k.at - slackMs);
}

function tally<T>(xs: readonly T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

/** The cells that may answer `p`: its owner when it was sent (either owner of a market moved in the window). */
export function ownersWhenSent(p: RequestPoint, w: FaultWindow): string[] {
  const now = w.moved?.[p.market];
  if (now === undefined || now === p.owner || p.start < w.start) return [p.owner];
  return p.start < w.end ? [p.owner, now] : [now];
}

/** A 2xx answer whose `x-cell-id` is not a cell that owned the market when the request was sent. */
export function isWrongCell(p: RequestPoint, w: FaultWindow): boolean {
  return p.status >= 200 && p.status < 300 && !ownersWhenSent(p, w).includes(p.cell);
}

const union = (given: readonly string[] | undefined, seen: Iterable<string>) => [...new Set([...(given ?? []), ...[...seen].sort()])];

/** Computes every drill figure from the points of one run. */
export function analyze(points: RunPoints, w: FaultWindow, opts: Partial<AnalysisOptions> = {}): Analysis {
  const o = { ...DEFAULT_ANALYSIS, ...opts };
  // A success from the wrong cell is a failure like any other (it counts in spill, blast and gates).
  const wrong: RequestPoint[] = [];
  const reqs = points.requests.map((p) => {
    if (!isWrongCell(p, w)) return p;
    const q: RequestPoint = { ...p, failed: true, code: 'wrong_cell' };
    wrong.push(q);
    return q;
  });
  const runStart = reqs.reduce((m, p) => Math.min(m, p.start), reqs[0]?.start ?? w.start);
  const runEnd = reqs.reduce((m, p) => Math.max(m, p.start), w.end);
  const faulted = (p: RequestPoint) => w.cells.includes(p.owner);

  const byPlane = groupBy(reqs, (p) => p.plane);
  const planes = union(points.planes, byPlane.keys());
  const byOwner = groupBy(reqs, (p) => p.owner);
  const cells = union(points.cells, byOwner.keys());
  const perCell: Record<string, Phased> = {};
  for (const [cell, ps] of byOwner) perCell[cell] = phased(ps, w);
  const perPlane: Record<string, Phased> = {};
  for (const [plane, ps] of byPlane) perPlane[plane] = phased(ps, w);
  const faultedPerPlane: Record<string, Phased> = {};
  if (w.cells.length) for (const plane of planes) faultedPerPlane[plane] = phased((byPlane.get(plane) ?? []).filter(faulted), w);
  const wrongCell: WrongCell = { count: wrong.length, byCell: {}, byPlane: {}, checkedByPlane: {}, examples: [] };
  for (const plane of planes) {
    wrongCell.byPlane[plane] = 0;
    wrongCell.checkedByPlane[plane] = (byPlane.get(plane) ?? []).filter((p) => p.status >= 200 && p.status < 300).length;
  }
  for (const p of wrong) {
    wrongCell.byPlane[p.plane] = (wrongCell.byPlane[p.plane] ?? 0) + 1;
    const cell = (wrongCell.byCell[p.owner] ??= {});
    cell[p.plane] = (cell[p.plane] ?? 0) + 1;
    if (wrongCell.examples.length < 5) {
      wrongCell.examples.push({ start: p.start, market: p.market, owner: p.owner, answered: p.cell, plane: p.plane, replica: p.replica });
    }
  }
  const moved: Record<string, MovedMarket> = {};
  for (const [market, to] of Object.entries(w.moved ?? {})) {
    const from = reqs.find((p) => p.market === market)?.owner ?? '';
    const answeredByNewOwner = Object.fromEntries(planes.map((plane) => [plane, 0]));
    moved[market] = { from, to, answeredByNewOwner };
  }
  for (const p of reqs) {
    const m = moved[p.market];
    if (m && p.start >= w.start && p.status >= 200 && p.status < 300 && p.cell === m.to) {
      m.answeredByNewOwner[p.plane] = (m.answeredByNewOwner[p.plane] ?? 0) + 1;
    }
  }
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
  for (const plane of w.cells.length ? planes : []) {
    const ps = byPlane.get(plane) ?? [];
    const f = ps.filter(faulted);
    const others = ps.filter((p) => !faulted(p));
    timeToIsolateMs[plane] = timeToIsolate(f, w, o);
    timeToRecoverMs[plane] = timeToRecover(f, others, w, runEnd, o);
  }
  const chartBin = Math.max(o.binMs, Math.ceil((runEnd - runStart) / 120 / 250) * 250);
  const series: Record<string, Bin[]> = {};
  for (const [cell, ps] of byOwner) series[cell] = bins(ps, runStart, runEnd + 1, chartBin);

  return {
    window: w,
    run: { start: runStart, end: runEnd },
    planes,
    cells,
    total: summarize(reqs),
    perCell,
    perPlane,
    faulted: phased(reqs.filter(faulted), w),
    faultedPerPlane,
    wrongCell,
    moved,
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
    inFlight: {
      failed: inFlight.length,
      byCell: tally(inFlight, (p) => p.owner),
      replica:
        replicaKills(w)
          .map((k) => k.replica)
          .join(', ') || undefined,
    },
    failovers: points.failovers.length,
    retries: {
      count: points.retries?.length ?? 0,
      byCell: tally(points.retries ?? [], (r) => r.owner),
      byPlane: tally(points.retries ?? [], (r) => r.plane),
    },
    timeToIsolateMs,
    timeToRecoverMs,
    series,
  };
}
