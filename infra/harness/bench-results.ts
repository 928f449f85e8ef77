/**
 * A benchmark's results file (`bench/<name>.md`): the figures as a markdown table with what a
 * reader needs to weigh them — date, the command, node version, the machine's load average before
 * and after, and the load generator's settings. Rewritten by every run of that benchmark.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';

/** What a results file says besides its table. */
export interface ResultsMeta {
  title: string;
  /** The command as run, e.g. `BENCH_DURATION=2s npm run bench:router`. */
  command: string;
  /** `loadavg()` when the benchmark started. */
  loadBefore: number[];
  /** The load generator and how it was run. */
  settings: string;
  /** Lines of notes under the table (method, what a column means). */
  notes?: string[];
}

/** The 1-, 5- and 15-minute load averages now. */
export function loadAverage(): number[] {
  return loadavg();
}

/** The command line that ran this process: the `BENCH_*` variables set, then `npm run <script>`. */
export function benchCommand(script: string): string {
  const vars = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v ?? ''} `)
    .join('');
  return `${vars}npm run ${process.env.npm_lifecycle_event ?? script}`;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** One markdown table. */
export function markdownTable(head: string[], rows: string[][]): string {
  return [
    `| ${head.map(cell).join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${head.map((_, i) => cell(r[i] ?? '')).join(' | ')} |`),
  ].join('\n');
}

/** Writes the results file (creating its directory) and returns its markdown. */
export function writeResults(file: string, meta: ResultsMeta, head: string[], rows: string[][]): string {
  const f2 = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  const text = [
    `# ${meta.title}`,
    '',
    `- date: ${new Date().toISOString()}`,
    `- command: \`${meta.command}\``,
    `- node ${process.version}, ${cpus().length} cores`,
    `- load average (1, 5, 15 min): before ${f2(meta.loadBefore)}, after ${f2(loadAverage())}`,
    `- load generator: ${meta.settings}`,
    '',
    markdownTable(head, rows),
    '',
    ...(meta.notes ?? []),
    '',
  ].join('\n');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return text;
}
