import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCellsimError } from '../../shared/errors.js';
import type { CellRecord } from '../../shared/kv.js';
import { planEvacuation } from './evacuation.js';

const cell = (id: string, capacity: number, canary = false): CellRecord => ({
  id,
  state: 'active',
  canary,
  global: false,
  capacity,
  version: 'v1',
});

describe('planEvacuation', () => {
  it('moves each market to the active non-canary cell with the most room', () => {
    const plan = planEvacuation(
      'cell-1',
      [cell('cell-0', 9, true), cell('cell-1', 9), cell('cell-2', 3), cell('cell-3', 4)],
      new Map([['cell-3', 2]]),
      ['a', 'b'],
    );
    assert.deepEqual(plan, [
      { market: 'a', to: 'cell-2' },
      { market: 'b', to: 'cell-2' },
    ]);
  });

  it('fails with the no_capacity code when no active cell has room', () => {
    assert.throws(
      () => planEvacuation('cell-1', [cell('cell-1', 9), cell('cell-2', 1)], new Map([['cell-2', 1]]), ['a']),
      (err: unknown) => isCellsimError(err, 'no_capacity') && err.name === 'NoCapacityError',
    );
  });
});
