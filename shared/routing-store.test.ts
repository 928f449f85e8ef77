import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellRecord } from './kv.js';
import { RoutingStore, type StoreChange } from './routing-store.js';

const cell = (id: string, extra: Partial<CellRecord> = {}): [string, CellRecord] => [
  id,
  { id, state: 'active', canary: false, global: false, capacity: 10, version: 'v1', ...extra },
];

describe('routing store', () => {
  it('announces only markets that really changed', () => {
    const s = new RoutingStore();
    const seen: StoreChange[] = [];
    s.onChange((c) => seen.push(c));
    s.applyMarkets([['a', { cell: 'c1', state: 'active', epoch: 1 }]]);
    s.applyMarkets([['a', { cell: 'c1', state: 'active', epoch: 1 }]]);
    s.replaceMarkets([['b', { cell: 'c2', state: 'active', epoch: 1 }]]);
    assert.deepEqual(seen, [
      { kind: 'markets', ids: ['a'] },
      { kind: 'markets', ids: ['b', 'a'] },
    ]);
    assert.deepEqual([...s.markets.keys()], ['b']);
  });

  it('keeps only the active color of a cell, finds the global cell, and bumps the generation', () => {
    const s = new RoutingStore();
    const g0 = s.generation;
    s.setCells(new Map([cell('c1', { activeColor: 'green' }), cell('g', { global: true })]));
    s.setEndpoints([
      { id: 'b1', cell: 'c1', address: '127.0.0.1', port: 1, version: 'v1', color: 'blue' },
      { id: 'g1', cell: 'c1', address: '127.0.0.1', port: 2, version: 'v2', color: 'green' },
    ]);
    assert.deepEqual(
      s.endpoints.get('c1')!.map((e) => e.id),
      ['g1'],
    );
    assert.equal(s.globalCell, 'g');
    assert.equal(s.generation, g0 + 2);
  });
});
