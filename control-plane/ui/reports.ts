/**
 * The drill reports under `reports/` (docs/drills.md §The report): listed newest first, and
 * their files served by name only (a folder and a file name each checked against a plain
 * pattern, so no path can leave the reports folder).
 */
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReportEntry } from './pages/audit.js';

/** The files of a report folder the console shows. */
const FILES = ['report.html', 'report.json', 'vegeta-plot.html', 'traffic-config.json', 'soak.json'];
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The newest `max` report folders of `dir` (none when it does not exist). */
export function listReports(dir: string, max = 50): ReportEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: (ReportEntry & { t: number })[] = [];
  for (const name of names) {
    if (!NAME_RE.test(name)) continue;
    try {
      const st = statSync(join(dir, name));
      if (!st.isDirectory()) continue;
      const files = readdirSync(join(dir, name)).filter((f) => FILES.includes(f));
      if (files.length) out.push({ name, files, mtime: st.mtime.toISOString(), t: st.mtimeMs });
    } catch {
      /* gone meanwhile */
    }
  }
  return out
    .sort((a, b) => b.t - a.t)
    .slice(0, max)
    .map(({ name, files, mtime }) => ({ name, files, mtime }));
}

/** One report file's bytes and content type, or undefined for an unknown name. */
export async function readReport(dir: string, name: string, file: string): Promise<{ body: Buffer; type: string } | undefined> {
  if (!NAME_RE.test(name) || !FILES.includes(file)) return undefined;
  try {
    const body = await readFile(join(dir, name, file));
    return { body, type: file.endsWith('.html') ? 'text/html; charset=utf-8' : 'application/json' };
  } catch {
    return undefined;
  }
}
