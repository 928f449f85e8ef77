/**
 * Pass/fail verdicts of a drill: each drill names the targets it is held to (issue 7's
 * "Targets"), and every verdict says what was measured against which threshold. A verdict whose
 * plane or cells have no request to judge fails as "no data": it is never left out.
 */
import type { Analysis } from './analyze.js';
import type { Probe } from './env/probe.js';
import type { GroupStats } from './stats.js';

/** One pass/fail check. */
export interface Verdict {
  name: string;
  pass: boolean;
  measured: string;
  threshold: string;
}

/**
 * The positive control: in the window, the faulted cells' requests show the fault. Each given
 * criterion is enough on its own; per plane driven unless `pooled` (then over all planes together,
 * though every plane driven must still have requests of the faulted cells in the window).
 */
export interface FaultObserved {
  /** Failed share (0..1) at least this. */
  minFailedShare?: number;
  /** At least this many failed requests. */
  minFailed?: number;
  /** p99 at least this many ms (a latency fault: the least delay it injects). */
  minP99Ms?: number;
  /** Judge all planes together (a fault whose few failures land on either plane by chance). */
  pooled?: boolean;
}

/** The targets a drill is held to. Absent = not checked (the wrong-cell check is always made). */
export interface Expectations {
  /** The fault showed on the faulted cells during the window (a fault that never bit proves nothing). */
  faultObserved?: FaultObserved;
  /** No failed request in markets outside the faulted cells (in-flight on a killed replica excluded). */
  spillZero?: boolean;
  /** Failed share within this many percentage points above the faulted cells' traffic share. */
  blastWithinPoints?: number;
  /** Max time to isolate per plane, ms. */
  isolateWithinMs?: Partial<Record<string, number>>;
  /** The faulted cells must be back to their before-levels before the run ends. */
  recovers?: boolean;
  /** No failed request at all (infrastructure faults, migrations). */
  zeroFailed?: boolean;
  /** Other cells' p99 during the fault within max(factor × before, before + addMs). */
  otherCellsLatency?: { factor: number; addMs: number };
  /** At least this many requests were sent (a run that sent nothing proves nothing). */
  minRequests?: number;
  /**
   * The positive control of a migration: at least one market moved in Consul, and each moved
   * market was answered by its new owner (2xx, `x-cell-id`) from the window on, on each plane.
   */
  movesObserved?: boolean;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const ms = (x: number | null | undefined) => (x === null || x === undefined ? 'never' : `${x} ms`);
/** What a verdict with nothing to judge measured: it fails. */
export const NO_DATA = 'no data';

/** The positive control's verdicts: one per plane driven, or one over all planes when pooled. */
function observedVerdicts(a: Analysis, f: FaultObserved): Verdict[] {
  const parts: string[] = [];
  if (f.minFailedShare !== undefined) parts.push(`>= ${pct(f.minFailedShare)} failed`);
  if (f.minFailed !== undefined) parts.push(`>= ${f.minFailed} failed`);
  if (f.minP99Ms !== undefined) parts.push(`p99 >= ${f.minP99Ms} ms`);
  const threshold = parts.join(' or ') || 'a criterion';
  const seen = (s: GroupStats) =>
    (f.minFailedShare !== undefined && s.errorRate >= f.minFailedShare) ||
    (f.minFailed !== undefined && s.failed >= f.minFailed) ||
    (f.minP99Ms !== undefined && s.p99 >= f.minP99Ms);
  const show = (s: GroupStats) => `${pct(s.errorRate)} failed (${s.failed} of ${s.requests}), p99 ${s.p99} ms`;
  const during = (plane: string) => a.faultedPerPlane[plane]?.during;
  if (f.pooled) {
    const empty = a.planes.filter((p) => !during(p)?.requests);
    const all = a.faulted.during;
    return [
      {
        name: `fault observed (${a.planes.join('+') || 'no plane'})`,
        pass: a.planes.length > 0 && empty.length === 0 && seen(all),
        measured: empty.length || a.planes.length === 0 ? `${NO_DATA}${empty.length ? ` on ${empty.join(', ')}` : ''}` : show(all),
        threshold: `${threshold}, all planes together`,
      },
    ];
  }
  return a.planes.map((plane): Verdict => {
    const s = during(plane);
    return {
      name: `fault observed (${plane})`,
      pass: s !== undefined && s.requests > 0 && seen(s),
      measured: s?.requests ? show(s) : NO_DATA,
      threshold,
    };
  });
}

/** The migration's positive control, one verdict per plane driven. */
function movesVerdicts(a: Analysis): Verdict[] {
  const moved = Object.entries(a.moved);
  return a.planes.map((plane): Verdict => {
    const silent = moved.filter(([, m]) => !m.answeredByNewOwner[plane]).map(([market]) => market);
    const show = moved.map(([market, m]) => `${market} ${m.from} -> ${m.to}: ${m.answeredByNewOwner[plane] ?? 0}`).join(', ');
    return {
      name: `fault observed (${plane})`,
      pass: moved.length > 0 && silent.length === 0,
      measured: moved.length === 0 ? `${NO_DATA} (no market moved in Consul)` : `answers from the new owner: ${show}`,
      threshold: '>= 1 market moved in Consul, each answered by its new owner (2xx) after the move',
    };
  });
}

/** Fewest probes a component's "fault observed" needs: fewer prove nothing about the window. */
export const DOWN_MIN_PROBES = 2;

/**
 * The positive control of a component drill (a replica killed, Consul or the control plane
 * stopped): the drill's own probes of the component's HTTP port during the window. The drill
 * holds the component down for the whole window, so every probe must go unanswered, and there
 * must be at least `minProbes` of them; no probe at all fails as "no data".
 */
export function downObserved(component: string, probes: readonly Probe[] | undefined, minProbes = DOWN_MIN_PROBES): Verdict {
  const name = `fault observed (${component} down)`;
  const threshold = `every probe of its port in the window unanswered, >= ${minProbes} probes`;
  if (!probes?.length) return { name, pass: false, measured: `${NO_DATA} (no probe)`, threshold };
  const unanswered = probes.filter((p) => !p.answered);
  const answered = probes.filter((p) => p.answered);
  const reasons = Object.entries(
    unanswered.reduce<Record<string, number>>((n, p) => ({ ...n, [p.detail]: (n[p.detail] ?? 0) + 1 }), {}),
  ).map(([why, n]) => `${why} ${n}`);
  const first = probes[0]!.at;
  const span = probes[probes.length - 1]!.at - first;
  const up = answered[0] ? `; answered at +${answered[0].at - first} ms (${answered[0].detail})` : '';
  return {
    name,
    pass: probes.length >= minProbes && answered.length === 0,
    measured: `${unanswered.length} of ${probes.length} probes unanswered over ${span} ms${reasons.length ? ` (${reasons.join(', ')})` : ''}${up}`,
    threshold,
  };
}

/** Judges an analysis against a drill's expectations; extra verdicts come from the drill itself. */
export function judge(a: Analysis, e: Expectations, extra: Verdict[] = []): Verdict[] {
  const out: Verdict[] = [];
  const min = e.minRequests ?? 1;
  out.push({ name: 'traffic sent', pass: a.total.requests >= min, measured: `${a.total.requests} requests`, threshold: `>= ${min}` });
  if (e.faultObserved) out.push(...observedVerdicts(a, e.faultObserved));
  if (e.movesObserved) out.push(...movesVerdicts(a));
  if (e.spillZero) {
    const outside = Object.entries(a.perCell)
      .filter(([cell]) => !a.window.cells.includes(cell))
      .reduce((n, [, ph]) => n + ph.before.requests + ph.during.requests + ph.after.requests, 0);
    out.push({
      name: 'spill (failures outside the faulted cell)',
      pass: outside > 0 && a.spill.failed === 0,
      measured: outside === 0 ? NO_DATA : `${a.spill.failed}${a.spill.failed ? ` ${JSON.stringify(a.spill.byCode)}` : ''}`,
      threshold: '0',
    });
  }
  // Every drill: a success from a cell that did not own the market is a routing failure.
  for (const plane of a.planes) {
    const checked = a.wrongCell.checkedByPlane[plane] ?? 0;
    const wrong = a.wrongCell.byPlane[plane] ?? 0;
    const byCell = Object.entries(a.wrongCell.byCell)
      .filter(([, planes]) => planes[plane])
      .map(([cell, planes]) => `${cell}: ${planes[plane]}`);
    out.push({
      name: `wrong-cell answers (${plane})`,
      pass: checked > 0 && wrong === 0,
      measured:
        checked === 0
          ? `${NO_DATA} (no 2xx answer)`
          : `${wrong} of ${checked} 2xx answers${byCell.length ? ` (${byCell.join(', ')})` : ''}`,
      threshold: '0',
    });
  }
  if (e.blastWithinPoints !== undefined) {
    const { failedShare, faultedTrafficShare, windowRequests } = a.blastRadius;
    out.push({
      name: 'blast radius',
      pass: windowRequests > 0 && failedShare <= faultedTrafficShare + e.blastWithinPoints / 100,
      measured:
        windowRequests === 0 ? `${NO_DATA} in the window` : `${pct(failedShare)} failed vs ${pct(faultedTrafficShare)} faulted share`,
      threshold: `<= share + ${e.blastWithinPoints} points`,
    });
  }
  for (const plane of a.planes) {
    const limit = e.isolateWithinMs?.[plane];
    if (limit === undefined) continue;
    const data = (a.faultedPerPlane[plane]?.during.requests ?? 0) > 0;
    const got = a.timeToIsolateMs[plane];
    out.push({
      name: `time to isolate (${plane})`,
      pass: data && got !== null && got !== undefined && got <= limit,
      measured: data ? ms(got) : NO_DATA,
      threshold: `<= ${limit} ms`,
    });
  }
  if (e.recovers) {
    for (const plane of a.planes) {
      const data = (a.faultedPerPlane[plane]?.after.requests ?? 0) > 0;
      const got = a.timeToRecoverMs[plane];
      out.push({
        name: `recovered (${plane})`,
        pass: data && got !== null && got !== undefined,
        measured: data ? ms(got) : NO_DATA,
        threshold: 'before the run ends',
      });
    }
  }
  if (e.zeroFailed) {
    const failed = a.total.failed - a.inFlight.failed;
    out.push({
      name: 'failed requests',
      pass: a.total.requests > 0 && failed === 0,
      measured: a.total.requests === 0 ? NO_DATA : `${failed}${failed ? ` ${JSON.stringify(a.spill.byCode)}` : ''}`,
      threshold: '0',
    });
  }
  if (e.otherCellsLatency) {
    const { factor, addMs } = e.otherCellsLatency;
    for (const cell of a.cells) {
      if (a.window.cells.includes(cell)) continue;
      const s = a.perCell[cell];
      const name = `${cell} p99 during the fault`;
      const threshold = `<= max(${factor}× before, before + ${addMs} ms)`;
      if (!s?.before.requests || !s.during.requests) {
        out.push({ name, pass: false, measured: `${NO_DATA} ${s?.before.requests ? 'during' : 'before'} the fault`, threshold });
        continue;
      }
      const limit = Math.max(s.before.p99 * factor, s.before.p99 + addMs);
      out.push({
        name,
        pass: s.during.p99 <= limit,
        measured: `${s.during.p99} ms (before ${s.before.p99} ms)`,
        threshold: `<= ${Math.round(limit)} ms`,
      });
    }
  }
  return [...out, ...extra];
}

/**
 * A limit on the share of failed requests, over all requests or those outside the faulted cells.
 * Kept apart from the expectations: a drill that allows in-flight failures still caps the total.
 */
export interface FailureGate {
  scope: 'all' | 'other';
  /** Highest failed share allowed (0..1); 0 = none may fail. */
  maxShare: number;
}

/** Judges the failure gates over every request of the run. */
export function gateVerdicts(a: Analysis, gates: readonly FailureGate[]): Verdict[] {
  return gates.map((g) => {
    const outside = (cell: string) => !a.window.cells.includes(cell);
    const phases = Object.entries(a.perCell).filter(([cell]) => g.scope === 'all' || outside(cell));
    let requests = 0;
    let failed = 0;
    for (const [, ph] of phases) {
      for (const s of [ph.before, ph.during, ph.after]) {
        requests += s.requests;
        failed += s.failed;
      }
    }
    // Outside the faulted cells, as for spill, failures in flight on a killed replica at its kill are apart.
    if (g.scope === 'other') for (const [cell] of phases) failed -= a.inFlight.byCell?.[cell] ?? 0;
    const share = requests ? failed / requests : 0;
    return {
      name: `failed share (${g.scope === 'all' ? 'all requests' : 'outside the faulted cells'})`,
      pass: requests > 0 && share <= g.maxShare,
      measured: `${pct(share)} (${failed} of ${requests})`,
      threshold: g.maxShare === 0 ? '0' : `<= ${pct(g.maxShare)}`,
    };
  });
}

/** True when every verdict passed. */
export function allPass(verdicts: Verdict[]): boolean {
  return verdicts.every((v) => v.pass);
}
