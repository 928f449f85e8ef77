/** A markdown table of a benchmark's rows (the same rows the terminal table shows). */

/** Renders `head` and `rows` as a GitHub markdown table; numbers are right-aligned. */
export function markdownTable(head: string[], rows: (string | number)[][]): string {
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || /^[\d.,×-]+$/.test(String(r[i]))));
  const cell = (v: string | number | undefined) => String(v ?? '').replace(/\|/g, '\\|');
  return [
    `| ${head.map(cell).join(' | ')} |`,
    `| ${numeric.map((n) => (n ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${head.map((_, i) => cell(r[i])).join(' | ')} |`),
  ].join('\n');
}
