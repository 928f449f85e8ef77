import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCellsimError } from './errors.js';
import { KvLayout, MarketRecordSchema, CellRecordSchema, decodeJson, encodeJson } from './kv.js';
import { activeEndpoints, decodeMarkets, findGlobalCell, type Endpoint } from './routing-table.js';

describe('KV codecs', () => {
  it('lists every problem of an invalid value with its path', () => {
    const r = decodeJson(
      CellRecordSchema,
      JSON.stringify({ id: 'Cell 1', state: 'gone', canary: 'yes', global: false, capacity: -1, version: 'v1' }),
    );
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.deepEqual(
        r.problems.map((p) => p.split(':')[0]),
        ['id', 'state', 'canary', 'capacity'],
      );
    }
  });
  it('refuses garbage JSON and empty values', () => {
    assert.equal(decodeJson(MarketRecordSchema, '{oops').ok, false);
    assert.equal(decodeJson(MarketRecordSchema, null).ok, false);
    assert.equal(decodeJson(MarketRecordSchema, JSON.stringify({ cell: 'cell-1', state: 'active', epoch: 1, extra: 1 })).ok, false);
  });
  it('never encodes an invalid value', () => {
    assert.throws(() => encodeJson(MarketRecordSchema, { cell: 'cell-1', state: 'moving' as 'active', epoch: 0 }));
    assert.equal(
      encodeJson(MarketRecordSchema, { cell: 'cell-1', state: 'active', epoch: 2 }),
      '{"cell":"cell-1","state":"active","epoch":2}',
    );
  });
  it('builds and parses keys under a custom prefix', () => {
    const l = new KvLayout('custom');
    assert.equal(l.marketKey('sf'), 'custom/markets/sf');
    assert.equal(l.marketFromKey('custom/markets/sf'), 'sf');
    assert.equal(l.marketFromKey('custom/markets/SF'), undefined);
    assert.equal(l.cellFromKey('custom/cells/cell-0'), 'cell-0');
  });
  it('builds no key from a segment that is not an ID: no parameter can name another key', () => {
    const l = new KvLayout('cellsim/');
    const bad = ['../cells/cell-0', '..', '.', 'a/b', '%2F', '..%2Fcells%2Fcell-0', '', 'SF', 'sf ', 'a\u0000', '-x', 'x'.repeat(64)];
    const builders: [string, (id: string) => string][] = [
      ['cellKey', (id) => l.cellKey(id)],
      ['marketKey', (id) => l.marketKey(id)],
      ['migrationKey', (id) => l.migrationKey(id)],
      ['rolloutKey', (id) => l.rolloutKey(id)],
      ['evacuationKey', (id) => l.evacuationKey(id)],
    ];
    for (const [name, build] of builders) {
      for (const id of bad) {
        assert.throws(
          () => build(id),
          (err) => isCellsimError(err, 'invalid_key'),
          `${name}(${JSON.stringify(id)})`,
        );
      }
    }
    assert.deepEqual(
      builders.map(([, build]) => build('cell-0')),
      [
        'cellsim/cells/cell-0',
        'cellsim/markets/cell-0',
        'cellsim/migrations/cell-0',
        'cellsim/rollouts/cell-0',
        'cellsim/audit/evacuations/cell-0',
      ],
    );
  });
});

describe('routing table building', () => {
  const layout = new KvLayout();
  it('keeps the last good record when a value turns invalid, and reports it', () => {
    const prev = new Map([['sf', { cell: 'cell-1', state: 'active' as const, epoch: 3 }]]);
    const { records, invalid } = decodeMarkets(
      layout,
      [
        { key: 'cellsim/markets/sf', value: 'garbage', modifyIndex: 9 },
        { key: 'cellsim/markets/nyc', value: '{"cell":"cell-2","state":"active","epoch":1}', modifyIndex: 9 },
        { key: 'cellsim/markets/Bad Key', value: '{}', modifyIndex: 9 },
      ],
      prev,
    );
    assert.deepEqual(records.get('sf'), { cell: 'cell-1', state: 'active', epoch: 3 });
    assert.equal(records.get('nyc')?.cell, 'cell-2');
    assert.deepEqual(
      invalid.map((i) => i.key),
      ['cellsim/markets/sf', 'cellsim/markets/Bad Key'],
    );
  });
  it('routes only to the active color of a cell', () => {
    const cells = new Map([
      [
        'cell-0',
        { id: 'cell-0', state: 'active' as const, canary: true, global: false, capacity: 5, version: 'v1', activeColor: 'green' as const },
      ],
      ['cell-1', { id: 'cell-1', state: 'active' as const, canary: false, global: true, capacity: 50, version: 'v1' }],
    ]);
    const ep = (id: string, cell: string, color: 'blue' | 'green'): Endpoint => ({
      id,
      cell,
      color,
      address: '127.0.0.1',
      port: 1,
      version: 'v1',
    });
    const by = activeEndpoints(cells, [
      ep('a', 'cell-0', 'blue'),
      ep('b', 'cell-0', 'green'),
      ep('c', 'cell-1', 'blue'),
      ep('d', 'cell-1', 'green'),
    ]);
    assert.deepEqual(
      by.get('cell-0')?.map((e) => e.id),
      ['b'],
    );
    assert.deepEqual(
      by.get('cell-1')?.map((e) => e.id),
      ['c', 'd'],
    );
    assert.equal(findGlobalCell(cells), 'cell-1');
  });
});
