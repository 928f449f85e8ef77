/** The drill report: report.json (every figure) and report.html (self-contained, offline). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderHtml } from './html.js';
import type { DrillReport } from './types.js';

export type { DrillEvent, DrillReport } from './types.js';

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
