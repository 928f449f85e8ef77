/** Test helper: the report files of a drill exist, parse and are self-contained. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { DrillReport } from './report.js';

/** Asserts the report files exist and parse, and the HTML is self-contained. */
export function assertReportFiles(r: DrillReport): void {
  const json = JSON.parse(readFileSync(r.files.json, 'utf8')) as DrillReport;
  assert.equal(json.drill, r.drill);
  assert.equal(json.pass, r.pass);
  assert.ok(json.analysis.total.requests > 0);
  const html = readFileSync(r.files.html, 'utf8');
  assert.match(html, /<svg[\s\S]*fault window[\s\S]*<\/svg>/);
  assert.match(html, r.pass ? /class="verdict pass">PASS/ : /class="verdict fail">FAIL/);
  assert.doesNotMatch(html, /<script|src="http|href="http/, 'report.html must open offline');
  assert.ok(existsSync(r.files.points));
  const summary = JSON.parse(readFileSync(r.files.summary, 'utf8')) as { metrics: Record<string, unknown> };
  assert.ok('cellsim_req' in summary.metrics, 'k6 summary has the traffic model metric');
}
