/**
 * A benchmark's results file (`bench/<name>.md`), the one way every benchmark writes its page:
 * a header with what a reader needs to weigh the figures — date, the command, node version,
 * cores, the machine's load average before and after, and the load generator's settings — then
 * one or more tables, each with an optional title and notes. Rewritten by every run of that
 * benchmark.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';

/** One table cell: numbers are written as they are and right-align their column. */
export type TableCell = string | number;

/** What a results file says besides its tables. */
export interface ResultsMeta {
  title: string;
  /** The command as run, e.g. `BENCH_DURATION=2s npm run bench:router` (see {@link benchCommand}). */
  command: string;
  /** `loadAverage()` when the benchmark started. */
  loadBefore: number[];
  /** The load generator and how it was run. */
  settings: string;
  /** Paragraphs under the header, before the first table: what was measured and how. */
  about?: string[];
}

/** One table of a results file. */
export interface ResultsSection {
  /** A `##` heading above the table. */
  title?: string;
  head: string[];
  rows: TableCell[][];
  /** Paragraphs under the table (method, what a column means, verdicts, warnings). */
  notes?: string[];
}

/** The 1-, 5- and 15-minute load averages now. */
export function loadAverage(): number[] {
  return loadavg();
}

/**
 * The sizes a benchmark measures side by side: `BENCH_SIZES` (comma-separated whole numbers, each at
 * least `min`), else `defaults`; distinct, ascending. Throws when none is left, naming the variable.
 */
export function benchSizes(defaults: string, min = 1, env: NodeJS.ProcessEnv = process.env): number[] {
  const sizes = [
    ...new Set(
      (env.BENCH_SIZES ?? defaults)
        .split(',')
        .map((s) => Number(s.trim()))
        .filter((n) => Number.isInteger(n) && n >= min),
    ),
  ].sort((a, b) => a - b);
  if (sizes.length === 0) throw new Error(`BENCH_SIZES names no size of ${min} or more: ${env.BENCH_SIZES}`);
  return sizes;
}

/** `value` as one shell word: quoted only when it holds anything but plain characters. */
const shellWord = (value: string) => (/^[\w@%+=:,./-]*$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);

/**
 * The command line that ran this process: the `BENCH_*` and `CELLSIM_BENCH_*` variables set in
 * `env` (sorted, shell-quoted), then `npm run <script>` (the npm script that is running, else `script`).
 */
export function benchCommand(script: string, env: NodeJS.ProcessEnv = process.env): string {
  const vars = Object.entries(env)
    .filter(([k, v]) => v !== undefined && /^(CELLSIM_)?BENCH_/.test(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${shellWord(v ?? '')} `)
    .join('');
  return `${vars}npm run ${env.npm_lifecycle_event ?? script}`;
}

/** A cell's text: pipes escaped, line breaks as spaces, so it stays one markdown cell. */
const cellText = (v: TableCell | undefined) =>
  String(v ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n|\r/g, ' ');

/** A number, possibly with thousands separators and a `%` or `×` suffix. */
const NUMBER = /^[+-]?(\d[\d,]*(\.\d+)?|\.\d+)[%×]?$/;
/** No figure (`-` or empty): neither makes a column textual. */
const NO_FIGURE = /^-?$/;

/** Whether column `i` holds figures: at least one number and nothing but numbers or no-figure marks. */
function numericColumn(rows: TableCell[][], i: number): boolean {
  let figures = 0;
  for (const r of rows) {
    const v = r[i];
    if (typeof v === 'number' || NUMBER.test(String(v ?? '').trim())) figures++;
    else if (!NO_FIGURE.test(String(v ?? '').trim())) return false;
  }
  return figures > 0;
}

/**
 * One GitHub markdown table. Cells may be strings or numbers; a column whose cells are all
 * numbers (or numeric text such as `1,234`, `1.5×`, `0.10%`; `-` and empty cells allowed) is
 * right-aligned. Pipes are escaped and line breaks become spaces; short rows are padded.
 */
export function markdownTable(head: string[], rows: TableCell[][]): string {
  return [
    `| ${head.map(cellText).join(' | ')} |`,
    `| ${head.map((_, i) => (numericColumn(rows, i) ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${head.map((_, i) => cellText(r[i])).join(' | ')} |`),
  ].join('\n');
}

/** The markdown of a results file: header, `about`, then each section's title, table and notes. */
function renderResults(meta: ResultsMeta, sections: ResultsSection[]): string {
  const f2 = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  const paragraphs = (ps: string[] | undefined) => (ps ?? []).flatMap((p) => [p, '']);
  return [
    `# ${meta.title}`,
    '',
    `- date: ${new Date().toISOString()}`,
    `- command: \`${meta.command}\``,
    `- node ${process.version}, ${cpus().length} cores`,
    `- load average (1, 5, 15 min): before ${f2(meta.loadBefore)}, after ${f2(loadAverage())}`,
    `- load generator: ${meta.settings}`,
    '',
    ...paragraphs(meta.about),
    ...sections.flatMap((s) => [...(s.title ? [`## ${s.title}`, ''] : []), markdownTable(s.head, s.rows), '', ...paragraphs(s.notes)]),
  ].join('\n');
}

/** Writes the results file (creating its directory) and returns its markdown. */
export function writeResults(file: string, meta: ResultsMeta, sections: ResultsSection[]): string {
  const text = renderResults(meta, sections);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return text;
}
