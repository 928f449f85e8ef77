import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvPrefixDiff, type RawKvItem } from './kv-diff.js';
import { KvLayout, MarketRecordSchema, decodeJson, type MarketRecord } from './kv.js';

const layout = new KvLayout();
const item = (m: string, value: string, idx: number): RawKvItem => ({
  Key: layout.marketKey(m),
  Value: Buffer.from(value).toString('base64'),
  ModifyIndex: idx,
});
const rec = (cell: string, epoch = 1) => JSON.stringify({ cell, state: 'active', epoch });

function differ() {
  return new KvPrefixDiff<MarketRecord>(
    (k) => layout.marketFromKey(k),
    (t) => decodeJson(MarketRecordSchema, t),
  );
}

describe('KV prefix diff', () => {
  it('examines only entries whose ModifyIndex moved, and reports moves and removals', () => {
    const d = differ();
    const first = d.apply([item('a', rec('c1'), 1), item('b', rec('c1'), 2), item('c', rec('c2'), 3)]);
    assert.equal(first.upserts.length, 3);
    const next = d.apply([item('a', rec('c1'), 1), item('b', rec('c2', 2), 9)]);
    assert.equal(next.examined, 1);
    assert.deepEqual(next.upserts, [['b', { cell: 'c2', state: 'active', epoch: 2 }]]);
    assert.deepEqual(next.removed, ['c']);
    assert.equal(d.size, 2);
  });

  it('keeps the last good record of a key whose new value is garbage, and reports it', () => {
    const d = differ();
    d.apply([item('a', rec('c1'), 1)]);
    const bad = d.apply([item('a', '{not json', 2), item('Bad_Key', rec('c1'), 3)]);
    assert.equal(bad.upserts.length, 0);
    assert.deepEqual(bad.removed, []);
    assert.equal(bad.invalid.length, 2);
    assert.match(bad.invalid[0]!.problems[0]!, /not JSON/);
    assert.deepEqual(d.records(), [['a', { cell: 'c1', state: 'active', epoch: 1 }, 2]]);
    const fixed = d.apply([item('a', rec('c3', 2), 4)]);
    assert.deepEqual(fixed.upserts, [['a', { cell: 'c3', state: 'active', epoch: 2 }]]);
  });

  it('rejects a record with a wrong shape and never adds a key that was never valid', () => {
    const d = differ();
    const r = d.apply([item('a', JSON.stringify({ cell: 'c1', state: 'moving', epoch: -1 }), 1)]);
    assert.equal(r.upserts.length, 0);
    assert.equal(r.invalid[0]!.problems.length, 2);
    assert.equal(d.size, 0);
  });

  it('treats seeded (snapshot) records as last good and diffs the first listing against them', () => {
    const d = differ();
    d.seed((id) => layout.marketKey(id), [['a', { cell: 'c1', state: 'active', epoch: 1 }, 5]]);
    const r = d.apply([item('a', rec('c1'), 5), item('b', rec('c2'), 6)]);
    assert.equal(r.examined, 1);
    assert.deepEqual(
      r.upserts.map(([id]) => id),
      ['b'],
    );
  });
});
