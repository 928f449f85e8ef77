import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellRecord } from '../../shared/kv.js';
import type { Endpoint } from '../../shared/routing-table.js';
import { PanicEndpoints } from './panic-endpoints.js';

const ep = (cell: string, color: 'blue' | 'green' = 'blue'): Endpoint => ({
  id: `${cell}-${color}`,
  cell,
  address: '127.0.0.1',
  port: 1,
  version: 'v1',
  color,
});
const cells = (colors: Record<string, 'blue' | 'green'>) =>
  new Map(Object.entries(colors).map(([id, activeColor]) => [id, { activeColor } as CellRecord]));

describe('panic endpoints: a cell with no passing instance keeps its last passing ones for panicMs', () => {
  it('stands the last passing set in for an empty one, then drops it after panicMs', () => {
    const p = new PanicEndpoints(1000);
    const table = cells({ a: 'blue', b: 'blue' });
    let r = p.apply(
      table,
      new Map([
        ['a', [ep('a')]],
        ['b', [ep('b')]],
      ]),
      0,
    );
    assert.deepEqual(r.panicking, []);
    assert.equal(r.nextExpiry, undefined);
    r = p.apply(table, new Map([['a', [ep('a')]]]), 400);
    assert.deepEqual(r.panicking, ['b']);
    assert.deepEqual(r.endpoints.get('b'), [ep('b')]);
    assert.equal(r.nextExpiry, 1000, 'remembered at 0, stands in until 0 + panicMs');
    r = p.apply(table, new Map([['a', [ep('a')]]]), 1001);
    assert.deepEqual(r.panicking, []);
    assert.equal(r.endpoints.get('b'), undefined, 'past panicMs: none');
  });

  it('never stands another color in for the active one, nor a cell that was never seen passing', () => {
    const p = new PanicEndpoints(1000);
    p.apply(cells({ a: 'blue' }), new Map([['a', [ep('a', 'blue')]]]), 0);
    const flipped = p.apply(cells({ a: 'green', n: 'blue' }), new Map(), 10);
    assert.deepEqual(flipped.panicking, []);
    assert.equal(flipped.endpoints.get('a'), undefined, 'blue instances never serve a green cell');
    assert.equal(flipped.endpoints.get('n'), undefined);
  });

  it('is off with panicMs 0', () => {
    const p = new PanicEndpoints(0);
    p.apply(cells({ a: 'blue' }), new Map([['a', [ep('a')]]]), 0);
    assert.deepEqual(p.apply(cells({ a: 'blue' }), new Map(), 1).panicking, []);
  });
});
