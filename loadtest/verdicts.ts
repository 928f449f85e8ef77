/**
 * Pass/fail verdicts of a drill: each drill names the targets it is held to (issue 7's
 * "Targets"), and every verdict says what was measured against which threshold.
 */
import type { Analysis } from './analyze.js';

/** One pass/fail check. */
export interface Verdict {
  name: string;
  pass: boolean;
  measured: string;
  threshold: string;
}

/** The targets a drill is held to. Absent = not checked. */
export interface Expectations {
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
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const ms = (x: number | null | undefined) => (x === null || x === undefined ? 'never' : `${x} ms`);

/** Judges an analysis against a drill's expectations; extra verdicts come from the drill itself. */
export function judge(a: Analysis, e: Expectations, extra: Verdict[] = []): Verdict[] {
  const out: Verdict[] = [];
  const min = e.minRequests ?? 1;
  out.push({ name: 'traffic sent', pass: a.total.requests >= min, measured: `${a.total.requests} requests`, threshold: `>= ${min}` });
  if (e.spillZero) {
    out.push({
      name: 'spill (failures outside the faulted cell)',
      pass: a.spill.failed === 0,
      measured: `${a.spill.failed}${a.spill.failed ? ` ${JSON.stringify(a.spill.byCode)}` : ''}`,
      threshold: '0',
    });
  }
  if (e.blastWithinPoints !== undefined) {
    const { failedShare, faultedTrafficShare } = a.blastRadius;
    out.push({
      name: 'blast radius',
      pass: failedShare <= faultedTrafficShare + e.blastWithinPoints / 100,
      measured: `${pct(failedShare)} failed vs ${pct(faultedTrafficShare)} faulted share`,
      threshold: `<= share + ${e.blastWithinPoints} points`,
    });
  }
  for (const [plane, limit] of Object.entries(e.isolateWithinMs ?? {})) {
    if (limit === undefined || !(plane in a.timeToIsolateMs)) continue;
    const got = a.timeToIsolateMs[plane];
    out.push({
      name: `time to isolate (${plane})`,
      pass: got !== null && got !== undefined && got <= limit,
      measured: ms(got),
      threshold: `<= ${limit} ms`,
    });
  }
  if (e.recovers) {
    for (const [plane, got] of Object.entries(a.timeToRecoverMs)) {
      out.push({ name: `recovered (${plane})`, pass: got !== null, measured: ms(got), threshold: 'before the run ends' });
    }
  }
  if (e.zeroFailed) {
    const failed = a.total.failed - a.inFlight.failed;
    out.push({
      name: 'failed requests',
      pass: failed === 0,
      measured: `${failed}${failed ? ` ${JSON.stringify(a.spill.byCode)}` : ''}`,
      threshold: '0',
    });
  }
  if (a.window.killedReplica !== undefined) {
    out.push({
      name: `in-flight failures on ${a.window.killedReplica} (shown, not counted as spill)`,
      pass: true,
      measured: String(a.inFlight.failed),
      threshold: 'any',
    });
  }
  if (e.otherCellsLatency) {
    const { factor, addMs } = e.otherCellsLatency;
    for (const [cell, s] of Object.entries(a.perCell)) {
      if (a.window.cells.includes(cell) || s.during.requests === 0) continue;
      const limit = Math.max(s.before.p99 * factor, s.before.p99 + addMs);
      out.push({
        name: `${cell} p99 during the fault`,
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
