/** The one-screen console summary of a drill. */
import Table from 'cli-table3';
import type { DrillReport } from './report.js';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** Renders the summary: verdict, blast radius, per-cell during the fault, verdict list, report path. */
export function renderSummary(r: DrillReport): string {
  const a = r.analysis;
  const cells = new Table({
    head: ['cell', 'reqs', 'failed before/during/after', 'wrong cell', 'p50', 'p99 before/during/after (ms)'],
    style: { head: [], border: [] },
  });
  for (const [cell, ph] of Object.entries(a.perCell).sort(([x], [y]) => x.localeCompare(y))) {
    cells.push([
      `${cell}${a.window.cells.includes(cell) ? ' *' : ''}`,
      ph.before.requests + ph.during.requests + ph.after.requests,
      `${ph.before.failed}/${ph.during.failed}/${ph.after.failed}`,
      Object.values(a.wrongCell.byCell[cell] ?? {}).reduce((n, x) => n + x, 0),
      ph.during.p50,
      `${ph.before.p99}/${ph.during.p99}/${ph.after.p99}`,
    ]);
  }
  const verdicts = r.verdicts.map((v) => `  ${v.pass ? 'PASS' : 'FAIL'}  ${v.name}: ${v.measured} (target ${v.threshold})`);
  const iso = Object.entries(a.timeToIsolateMs)
    .map(([p, v]) => `${p} ${v === null ? 'never' : `${v} ms`}`)
    .join(', ');
  const wrong = Object.entries(a.wrongCell.byPlane)
    .map(([p, n]) => `${p} ${n}`)
    .join(', ');
  const rec = Object.entries(a.timeToRecoverMs)
    .map(([p, v]) => `${p} ${v === null ? 'never' : `${v} ms`}`)
    .join(', ');
  return [
    `drill ${r.drill}: ${r.pass ? 'PASS' : 'FAIL'}   (${r.planes.join('+')}, ${r.rate}/s, ${(r.durationMs / 1000).toFixed(0)} s, faulted: ${r.faultCells.join(',') || 'none'})`,
    `requests ${a.total.requests}, failed ${a.total.failed}; blast radius ${pct(a.blastRadius.failedShare)} vs faulted share ${pct(a.blastRadius.faultedTrafficShare)}; spill ${a.spill.failed}${a.inFlight.replica ? `; in flight on ${a.inFlight.replica}: ${a.inFlight.failed}` : ''}; failovers ${a.failovers}, retries ${a.retries.count}`,
    `time to isolate: ${iso || 'n/a'}; time to recover: ${rec || 'n/a'}; wrong-cell answers ${a.wrongCell.count}${wrong ? ` (${wrong})` : ''}; vegeta exit ${r.vegeta.exitCode}`,
    cells.toString(),
    ...verdicts,
    `report: ${r.files.html}`,
  ].join('\n');
}
