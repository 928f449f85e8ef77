import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellRecord } from './kv.js';
import { activeEndpoints, colorWeights, shiftWeights, weightedPick, type Endpoint } from './routing-table.js';

const ep = (id: string, color: 'blue' | 'green', cell = 'cell-1'): Endpoint => ({
  id,
  cell,
  color,
  address: '127.0.0.1',
  port: 1,
  version: color === 'blue' ? 'v1' : 'v2',
});
const rec = (shift?: CellRecord['shift']): CellRecord => ({
  id: 'cell-1',
  state: 'active',
  canary: false,
  global: false,
  capacity: 10,
  version: 'v1',
  activeColor: 'blue',
  ...(shift ? { shift } : {}),
});
/** Each color's share of the summed weights. */
const shares = (list: readonly Endpoint[]) => {
  const total = list.reduce((s, e) => s + (e.weight ?? 1), 0);
  const of = (c: string) => list.filter((e) => e.color === c).reduce((s, e) => s + (e.weight ?? 1), 0) / total;
  return { blue: of('blue'), green: of('green') };
};

describe('weighted shift between colors', () => {
  it('gives the shifted color its percent of the weight at each step, split evenly over its endpoints', () => {
    const list = [ep('b1', 'blue'), ep('b2', 'blue'), ep('b3', 'blue'), ep('g1', 'green')];
    for (const p of [1, 10, 50, 99.5]) {
      const w = shiftWeights(list, 'blue', 'green', p);
      assert.ok(Math.abs(shares(w).green - p / 100) < 1e-12, `${p}%: ${JSON.stringify(shares(w))}`);
      assert.ok(
        w.every((e) => Number.isInteger(e.weight) && e.weight! >= 1),
        'integer weights of at least 1 (Envoy)',
      );
      assert.equal(new Set(w.filter((e) => e.color === 'blue').map((e) => e.weight)).size, 1, 'even within a color');
    }
    assert.deepEqual(
      shiftWeights(list, 'blue', 'green', 0).map((e) => e.id),
      ['b1', 'b2', 'b3'],
    );
    assert.deepEqual(
      shiftWeights(list, 'blue', 'green', 100).map((e) => e.id),
      ['g1'],
    );
    assert.deepEqual(
      shiftWeights([ep('b1', 'blue')], 'blue', 'green', 50).map((e) => [e.id, e.weight]),
      [['b1', undefined]],
      'no green endpoint: blue takes all',
    );
    assert.deepEqual(shiftWeights([ep('g1', 'green')], 'blue', 'green', 1), [], 'no passing blue endpoint: none, never green alone');
  });

  it('activeEndpoints weighs both colors under a shift, and only the active color without one', () => {
    const all = [ep('b1', 'blue'), ep('g1', 'green'), ep('x1', 'green', 'cell-2')];
    const cells = new Map<string, CellRecord>([['cell-1', rec({ color: 'green', percent: 10 })]]);
    const by = activeEndpoints(cells, all);
    assert.deepEqual(
      by.get('cell-1')?.map((e) => [e.id, e.weight]),
      [
        ['b1', 9000],
        ['g1', 1000],
      ],
    );
    assert.deepEqual(
      by.get('cell-2')?.map((e) => e.id),
      ['x1'],
      'a cell without a record: every color, unweighted',
    );
    assert.deepEqual(
      activeEndpoints(new Map([['cell-1', rec()]]), all)
        .get('cell-1')
        ?.map((e) => [e.id, e.weight]),
      [['b1', undefined]],
    );
    assert.deepEqual(
      activeEndpoints(new Map([['cell-1', rec({ color: 'blue', percent: 50 })]]), all)
        .get('cell-1')
        ?.map((e) => [e.id, e.weight]),
      [['b1', undefined]],
      'a shift to the active color itself changes nothing',
    );
  });

  it('colorWeights gives each color its share of a shift, reduced, and nothing for a list that is not split', () => {
    const list = [ep('b1', 'blue'), ep('b2', 'blue'), ep('b3', 'blue'), ep('g1', 'green')];
    assert.deepEqual(colorWeights(shiftWeights(list, 'blue', 'green', 10)), [
      { color: 'blue', weight: 9 },
      { color: 'green', weight: 1 },
    ]);
    assert.deepEqual(colorWeights(shiftWeights(list, 'blue', 'green', 0.01)), [
      { color: 'blue', weight: 9999 },
      { color: 'green', weight: 1 },
    ]);
    assert.deepEqual(colorWeights(shiftWeights(list, 'green', 'blue', 25)), [
      { color: 'blue', weight: 1 },
      { color: 'green', weight: 3 },
    ]);
    assert.equal(colorWeights(list), undefined, 'no weights');
    assert.equal(colorWeights(shiftWeights(list, 'blue', 'green', 100)), undefined, 'one color');
    assert.equal(colorWeights([]), undefined);
  });

  it('weightedPick draws each endpoint in proportion to its weight', () => {
    const list = shiftWeights([ep('b1', 'blue'), ep('g1', 'green')], 'blue', 'green', 10);
    let green = 0;
    const n = 10_000;
    for (let i = 0; i < n; i++) if (weightedPick(list, () => (i + 0.5) / n)?.color === 'green') green++;
    assert.equal(green, 1000);
    assert.equal(weightedPick([ep('b1', 'blue'), ep('b2', 'blue')], () => 0.75)?.id, 'b2', 'unweighted: even');
  });
});
