/**
 * `cellctl up --split-cells`, read before anything is written: the split cells named, `none`, the
 * default (every cell under `--log kafka`), and each refusal with its reason, including a cell
 * whose kind an earlier run on the data directory fixed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isSplit } from './config.js';
import { splitChoice } from './split-cells.js';

describe('--split-cells', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), 'cellsim-split-cells-'));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('splits the cells named, none, or every cell by default under --log kafka, and none on --log sqlite', () => {
    const data = fresh();
    assert.deepEqual(splitChoice('cell-1, cell-2', 3, 'kafka', data), { ok: true, splitCells: ['cell-1', 'cell-2'] });
    assert.deepEqual(splitChoice('none', 3, 'kafka', data), { ok: true, splitCells: [] });
    assert.deepEqual(splitChoice(undefined, 3, 'kafka', data), { ok: true, splitCells: undefined });
    assert.deepEqual(splitChoice(undefined, 3, 'sqlite', data), { ok: true, splitCells: undefined });
    const cfg = { log: 'kafka' as const, splitCells: ['cell-1'] };
    assert.deepEqual(
      ['cell-0', 'cell-1', 'cell-5'].map((c) => isSplit(cfg, c)),
      [false, true, false],
      'a cell not named (an added one too) runs as one process',
    );
    assert.equal(isSplit({ log: 'kafka' }, 'cell-7'), true, 'the default splits every cell');
    assert.equal(isSplit({ log: 'sqlite' }, 'cell-0'), false);
  });

  it('refuses the flag without --log kafka, a cell outside the topology, a cell named twice', () => {
    const data = fresh();
    for (const [value, log, said] of [
      ['cell-0', 'sqlite', /^error: --split-cells is for --log kafka/],
      ['cell-3', 'kafka', /^error: --split-cells: 'cell-3' is not a cell of this topology \(cell-0\.\.cell-2, or 'none'\)$/],
      ['cell-1,', 'kafka', /'' is not a cell of this topology/],
      ['all', 'kafka', /'all' is not a cell/],
      ['cell-1,cell-1', 'kafka', /^error: --split-cells: cell-1 is named twice$/],
    ] as const) {
      const r = splitChoice(value, 3, log, data);
      assert.equal(r.ok, false, value);
      assert.match(r.ok ? '' : r.error, said);
    }
  });

  it("refuses to change a cell's kind on a data directory an earlier run used", () => {
    const data = fresh();
    mkdirSync(join(data, 'delivery', 'cell-1'), { recursive: true });
    mkdirSync(join(data, 'cells', 'cell-1'), { recursive: true });
    writeFileSync(join(data, 'cells', 'cell-1', 'cell.sqlite'), '');
    mkdirSync(join(data, 'cells', 'cell-0'), { recursive: true });
    writeFileSync(join(data, 'cells', 'cell-0', 'cell.sqlite'), '');
    const wasSplit = splitChoice('none', 2, 'kafka', data);
    assert.match(wasSplit.ok ? '' : wasSplit.error, /^error: --split-cells: cell-1 was split in an earlier run on this data directory/);
    const ranAlone = splitChoice(undefined, 2, 'kafka', data);
    assert.match(ranAlone.ok ? '' : ranAlone.error, /^error: --split-cells: cell-0 ran as one process in an earlier run/);
    assert.deepEqual(splitChoice('cell-1', 2, 'kafka', data), { ok: true, splitCells: ['cell-1'] });
  });
});
