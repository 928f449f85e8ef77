/** report.html: one self-contained page (inline CSS and SVG, no script, no network). */
import { basename } from 'node:path';
import type { GroupStats } from '../stats.js';
import type { DrillReport } from './types.js';
import { barChart, palette, timeChart } from './svg.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const codes = (s: GroupStats) =>
  Object.entries(s.codes)
    .filter(([c]) => c !== 'none')
    .map(([c, n]) => `${c}: ${n}`)
    .join(', ') || '-';

function statsRow(label: string, phase: string, s: GroupStats): string {
  return `<tr><td>${esc(label)}</td><td>${phase}</td><td>${s.requests}</td><td>${s.failed}</td><td>${pct(s.errorRate)}</td><td>${s.p50}</td><td>${s.p95}</td><td>${s.p99}</td><td>${esc(codes(s))}</td></tr>`;
}

function table(title: string, groups: Record<string, Record<'before' | 'during' | 'after', GroupStats>>): string {
  const rows = Object.entries(groups)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([k, ph]) => (['before', 'during', 'after'] as const).map((p) => statsRow(k, p, ph[p])));
  return `<h2>${esc(title)}</h2><table><thead><tr><th></th><th>phase</th><th>requests</th><th>failed</th><th>error rate</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>errors by code</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Wrong-cell answers per owning cell and plane (2xx answers from a cell that did not own the market). */
function wrongCellTable(a: DrillReport['analysis']): string {
  const w = a.wrongCell;
  const head = a.planes.map((p) => `<th>${esc(p)}</th>`).join('');
  const rows = a.cells
    .map((c) => `<tr><td>${esc(c)}</td>${a.planes.map((p) => `<td>${w.byCell[c]?.[p] ?? 0}</td>`).join('')}</tr>`)
    .join('');
  const checked = a.planes.map((p) => `<td>${w.checkedByPlane[p] ?? 0}</td>`).join('');
  const examples = w.examples
    .map(
      (e) =>
        `<li>+${((e.start - a.run.start) / 1000).toFixed(2)} s: market ${esc(e.market)} (owner ${esc(e.owner)}) answered by ${esc(e.answered || '(no x-cell-id)')} via ${esc(e.replica)}</li>`,
    )
    .join('');
  return `<h2>Wrong-cell answers</h2><p>2xx answers whose <code>x-cell-id</code> was not the market's owner when the request was sent (either owner of a market moved inside the window): <b>${w.count}</b>. Each counts as a failed request (code <code>wrong_cell</code>).</p>
<table><thead><tr><th>owning cell</th>${head}</tr></thead><tbody>${rows}<tr><td>2xx answers checked</td>${checked}</tr></tbody></table>${examples ? `<ul>${examples}</ul>` : ''}`;
}

/** Renders the whole report page. */
export function renderHtml(r: DrillReport): string {
  const a = r.analysis;
  const cells = Object.keys(a.series).sort();
  const lines = (f: (b: { errorRate: number; p99: number }) => number) =>
    cells.map((c, i) => ({
      label: `${c}${a.window.cells.includes(c) ? ' (faulted)' : ''}`,
      color: palette(i),
      points: (a.series[c] ?? []).filter((b) => b.requests > 0).map((b) => ({ t: b.t, v: f(b) })),
    }));
  const shade = { start: a.window.start, end: a.window.end };
  const errChart = timeChart({
    title: 'Error rate per cell',
    unit: '%',
    lines: lines((b) => b.errorRate),
    from: a.run.start,
    to: a.run.end,
    shade,
    yMax: 1,
  });
  const p99Chart = timeChart({
    title: 'p99 latency per cell (ms)',
    unit: 'ms',
    lines: lines((b) => b.p99),
    from: a.run.start,
    to: a.run.end,
    shade,
  });
  const blast = barChart('Blast radius (requests started in the fault window)', [
    { label: 'failed share of all requests', value: a.blastRadius.failedShare, color: '#d62728' },
    {
      label: `traffic share of faulted cell(s) ${r.faultCells.join(', ') || '(none)'}`,
      value: a.blastRadius.faultedTrafficShare,
      color: '#1f77b4',
    },
  ]);
  const verdictRows = r.verdicts
    .map(
      (v) =>
        `<tr class="${v.pass ? 'ok' : 'bad'}"><td>${v.pass ? 'PASS' : 'FAIL'}</td><td>${esc(v.name)}</td><td>${esc(v.measured)}</td><td>${esc(v.threshold)}</td></tr>`,
    )
    .join('');
  const events = r.events.map((e) => `<li>+${((e.t - a.run.start) / 1000).toFixed(2)} s: ${esc(e.what)}</li>`).join('');
  const iso = (m: Record<string, number | null>) =>
    Object.entries(m)
      .map(([p, v]) => `${esc(p)}: ${v === null ? 'never' : `${v} ms`}`)
      .join('; ') || 'n/a';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>cellsim drill ${esc(r.drill)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;max-width:1000px;color:#222}table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child,td:nth-child(2){text-align:left}tr.ok td:first-child{color:#1a7f37;font-weight:bold}tr.bad td:first-child{color:#cf222e;font-weight:bold}.verdict{font-size:22px;font-weight:bold}.pass{color:#1a7f37}.fail{color:#cf222e}svg{display:block;margin:8px 0}</style></head><body>
<h1>Drill <code>${esc(r.drill)}</code></h1>
<p>${esc(r.description)}</p>
<p class="verdict ${r.pass ? 'pass' : 'fail'}">${r.pass ? 'PASS' : 'FAIL'}</p>
<p>Started ${esc(r.startedAt)}; planes ${esc(r.planes.join(', '))}; ${r.rate} arrivals/s for ${(r.durationMs / 1000).toFixed(0)} s; faulted cell(s): ${esc(r.faultCells.join(', ') || 'none')};
fault window +${((a.window.start - a.run.start) / 1000).toFixed(2)} s to +${((a.window.end - a.run.start) / 1000).toFixed(2)} s (shaded).</p>
<h2>Verdicts</h2><table><thead><tr><th></th><th>check</th><th>measured</th><th>threshold</th></tr></thead><tbody>${verdictRows}</tbody></table>
<h2>Blast radius</h2>${blast}
<p>${a.blastRadius.windowFailed} of ${a.blastRadius.windowRequests} requests in the window failed. Spill: <b>${a.spill.failed}</b> failed requests outside the faulted cell(s)${a.inFlight.replica ? `; in flight on killed ${esc(a.inFlight.replica)}: <b>${a.inFlight.failed}</b>` : ''}; failovers to the other replica: ${a.failovers}; retries after <code>503 market_migrating</code>: ${a.retries.count}${a.retries.count ? ` (${esc(JSON.stringify(a.retries.byCell))})` : ''}.<br>
Time to isolate: ${iso(a.timeToIsolateMs)}. Time to recover: ${iso(a.timeToRecoverMs)}.</p>
<h2>Over time</h2>${errChart}${p99Chart}
${wrongCellTable(a)}
${Object.keys(a.faultedPerPlane).length ? table(`Faulted cell(s) ${r.faultCells.join(', ')}, per plane`, a.faultedPerPlane) : ''}
${table('Per cell (by owning cell)', a.perCell)}
${table('Per plane', a.perPlane)}
<h2>Timeline</h2><ul>${events}</ul>
<p>Files: report.json (every figure), results.json (vegeta's per-request results; <code>vegeta report results.json</code>)${r.files.plot ? `, <a href="${esc(basename(r.files.plot))}">vegeta-plot.html</a> (vegeta's own latency plot)` : ''}.</p>
</body></html>
`;
}
