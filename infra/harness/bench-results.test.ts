import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { markdownTable, writeResults } from './bench-results.js';

describe('bench results file', () => {
  it('escapes pipes and line breaks in cells and pads short rows', () => {
    assert.equal(markdownTable(['a', 'b'], [['x | y'], ['1\n2', '3']]), '| a | b |\n| --- | --- |\n| x \\| y |  |\n| 1 2 | 3 |');
  });

  it('writes the date, command, node version, load averages and generator settings above the table', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-results-test-'));
    try {
      const file = join(dir, 'sub', 'x.md');
      const text = writeResults(
        file,
        { title: 't', command: 'npm run x', loadBefore: [1, 2, 3], settings: 'vegeta -rate=0' },
        ['m'],
        [['1']],
      );
      assert.equal(readFileSync(file, 'utf8'), text);
      for (const part of [
        '# t',
        '- date: ',
        '`npm run x`',
        process.version,
        'before 1.00 2.00 3.00, after ',
        'vegeta -rate=0',
        '| m |\n| --- |\n| 1 |',
      ]) {
        assert.ok(text.includes(part), part);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
