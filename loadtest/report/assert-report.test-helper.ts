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
  const lines = readFileSync(r.files.results, 'utf8').split('\n').filter(Boolean);
  assert.ok(lines.length >= json.analysis.total.requests, `vegeta's results file holds every request (${lines.length} lines)`);
  assert.ok(r.files.plot && existsSync(r.files.plot), "vegeta's own plot is written next to the report");
  assert.match(html, /href="vegeta-plot\.html"/, 'the report links the vegeta plot');
}
