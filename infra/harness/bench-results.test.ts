import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { benchCommand, benchSizes, markdownTable, writeResults, type ResultsSection, type TableCell } from './bench-results.js';

describe('bench results file', () => {
  const tables: { name: string; head: string[]; rows: TableCell[][]; want: string }[] = [
    {
      name: 'escapes pipes and line breaks in cells and pads short rows',
      head: ['a', 'b'],
      rows: [['x | y'], ['1\n2', '3\r\n4']],
      want: '| a | b |\n| --- | --- |\n| x \\| y |  |\n| 1 2 | 3 4 |',
    },
    {
      name: 'escapes a pipe in the head',
      head: ['a|b'],
      rows: [['x']],
      want: '| a\\|b |\n| --- |\n| x |',
    },
    {
      name: 'right-aligns columns of numbers and numeric text, not text or empty columns',
      head: ['plane', 'n', 'rate', 'share', 'speed-up', 'p50 / p99', 'none'],
      rows: [
        ['direct', 1, '1,200', '0.00%', '-', '1.0 / 2.0', ''],
        ['router', 2.5, '-', '12.50%', '1.5×', '3.0 / 4.0', '-'],
      ],
      want:
        '| plane | n | rate | share | speed-up | p50 / p99 | none |\n' +
        '| --- | ---: | ---: | ---: | ---: | --- | --- |\n' +
        '| direct | 1 | 1,200 | 0.00% | - | 1.0 / 2.0 |  |\n' +
        '| router | 2.5 | - | 12.50% | 1.5× | 3.0 / 4.0 | - |',
    },
    {
      name: 'leaves a column left-aligned when one cell is text',
      head: ['value'],
      rows: [[1], ['333 ms']],
      want: '| value |\n| --- |\n| 1 |\n| 333 ms |',
    },
    {
      name: 'writes only the head of a table without rows',
      head: ['a', 'b'],
      rows: [],
      want: '| a | b |\n| --- | --- |',
    },
  ];
  for (const t of tables) {
    it(t.name, () => assert.equal(markdownTable(t.head, t.rows), t.want));
  }

  const commands: { name: string; env: NodeJS.ProcessEnv; want: string }[] = [
    { name: 'no variables', env: { PATH: '/bin' }, want: 'npm run bench:x' },
    {
      name: 'BENCH_* and CELLSIM_BENCH_* sorted, others left out',
      env: { CELLSIM_BENCH_SECONDS: '2', BENCH_ORDERS: '500', HOME: '/root', CELLSIM_LOG_LEVEL: 'warn', BENCH_MIGRATIONS: '2' },
      want: 'BENCH_MIGRATIONS=2 BENCH_ORDERS=500 CELLSIM_BENCH_SECONDS=2 npm run bench:x',
    },
    {
      name: 'values quoted for the shell when needed',
      env: { CELLSIM_BENCH_RATES: '200,1000', BENCH_NOTE: "it's slow" },
      want: `BENCH_NOTE='it'\\''s slow' CELLSIM_BENCH_RATES=200,1000 npm run bench:x`,
    },
    {
      name: 'the running npm script wins over the given name',
      env: { BENCH_DURATION: '1s', npm_lifecycle_event: 'bench:y' },
      want: 'BENCH_DURATION=1s npm run bench:y',
    },
  ];
  for (const c of commands) {
    it(`command line: ${c.name}`, () => assert.equal(benchCommand('bench:x', c.env), c.want));
  }

  const pages: { name: string; about?: string[]; sections: ResultsSection[]; tail: string }[] = [
    {
      name: 'one untitled table with a note',
      sections: [{ head: ['m'], rows: [[1]], notes: ['a note'] }],
      tail: '- load generator: vegeta -rate=0\n\n| m |\n| ---: |\n| 1 |\n\na note\n',
    },
    {
      name: 'several titled tables, each followed by its notes, after the about paragraphs',
      about: ['what was measured', 'and how'],
      sections: [
        { title: 'First', head: ['a'], rows: [['x']], notes: ['note 1', 'note 2'] },
        { head: ['b'], rows: [[2]] },
        { title: 'Second', head: ['c'], rows: [['y']] },
      ],
      tail:
        '- load generator: vegeta -rate=0\n\nwhat was measured\n\nand how\n\n## First\n\n| a |\n| --- |\n| x |\n\nnote 1\n\nnote 2\n\n' +
        '| b |\n| ---: |\n| 2 |\n\n## Second\n\n| c |\n| --- |\n| y |\n',
    },
  ];
  for (const p of pages) {
    it(`page: ${p.name}, under the date, command, node version, cores, load averages and generator settings`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'bench-results-test-'));
      try {
        const file = join(dir, 'sub', 'x.md');
        const text = writeResults(
          file,
          { title: 't', command: 'BENCH_X=1 npm run x', loadBefore: [1, 2, 3], settings: 'vegeta -rate=0', about: p.about },
          p.sections,
        );
        assert.equal(readFileSync(file, 'utf8'), text);
        assert.match(
          text,
          /^# t\n\n- date: \d{4}-\d\d-\d\dT[\d:.]+Z\n- command: `BENCH_X=1 npm run x`\n- node v[\d.]+, \d+ cores\n- load average \(1, 5, 15 min\): before 1\.00 2\.00 3\.00, after [\d.]+ [\d.]+ [\d.]+\n/,
        );
        assert.ok(text.endsWith(p.tail), `${JSON.stringify(text)} ends with ${JSON.stringify(p.tail)}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('benchSizes', () => {
  it('reads BENCH_SIZES (distinct, ascending, at least the minimum), else the defaults', () => {
    assert.deepEqual(benchSizes('10,1000', 1, {}), [10, 1000]);
    assert.deepEqual(benchSizes('10', 1, { BENCH_SIZES: '100000, 5,5,x,2.5,-1' }), [5, 100000]);
    assert.deepEqual(benchSizes('1000', 10, { BENCH_SIZES: '9,10' }), [10]);
  });

  it('refuses a list with no usable size, naming the variable', () => {
    assert.throws(() => benchSizes('10', 10, { BENCH_SIZES: '1,abc' }), /BENCH_SIZES names no size of 10 or more: 1,abc/);
  });
});
