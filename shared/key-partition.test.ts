import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { partitionKeys, shardName, ShardIndex } from './key-partition.js';

const ids = (n: number, name = (i: number) => `m-${i}`) => Array.from({ length: n }, (_, i) => name(i));

describe('key partition', () => {
  it('keeps one shard over the whole prefix below the threshold', () => {
    assert.deepEqual(partitionKeys(ids(1999), { from: 2000, target: 500, max: 64 }), [{ lead: '', exact: false }]);
  });

  it('puts every key in exactly one shard, within the shard budget', () => {
    const keys = ids(10_000);
    const shards = partitionKeys(keys, { from: 2000, target: 500, max: 64 });
    assert.ok(shards.length > 1 && shards.length <= 64, `${shards.length} shards`);
    for (const k of keys) {
      const holders = shards.filter((s) => (s.exact ? k === s.lead : k.startsWith(s.lead)));
      assert.equal(holders.length, 1, `${k} is in ${holders.map(shardName).join(', ') || 'no shard'}`);
    }
  });

  it('splits a prefix that is itself a key into an exact shard and its children', () => {
    // m-1 is a key and the prefix of m-10..m-19, m-100..
    const shards = partitionKeys(ids(10_000), { from: 2000, target: 500, max: 64 });
    assert.ok(
      shards.some((s) => s.exact),
      'some exact shard exists',
    );
    const index = new ShardIndex(shards);
    assert.equal(index.find('m-1')?.exact, true);
    assert.equal(index.find('m-1')?.lead, 'm-1');
  });

  it('stops splitting at the budget and leaves the largest shards larger than the target', () => {
    const keys = ids(100_000);
    const shards = partitionKeys(keys, { from: 2000, target: 500, max: 16 });
    assert.ok(shards.length <= 16, `${shards.length}`);
    const sizes = shards.map((s) => keys.filter((k) => (s.exact ? k === s.lead : k.startsWith(s.lead))).length);
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      100_000,
    );
    assert.ok(Math.max(...sizes) < 100_000 / 4, `largest shard ${Math.max(...sizes)}`);
  });

  it('reaches the target on keys spread over the first character', () => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    const keys = ids(10_000, (i) => `${alphabet[i % 36]}${alphabet[Math.floor(i / 36) % 36]}-${i}`);
    const shards = partitionKeys(keys, { from: 2000, target: 500, max: 64 });
    const index = new ShardIndex(shards);
    const count = new Map<string, number>();
    for (const k of keys) {
      const s = index.find(k);
      assert.ok(s, k);
      count.set(shardName(s), (count.get(shardName(s)) ?? 0) + 1);
    }
    assert.ok(Math.max(...count.values()) <= 500, `largest ${Math.max(...count.values())}`);
  });

  it('finds no shard for a key outside every lead (a market created later)', () => {
    const index = new ShardIndex(partitionKeys(ids(10_000), { from: 2000, target: 500, max: 64 }));
    assert.equal(index.find('zz-new'), undefined);
    assert.ok(index.find('m-9999'));
  });
});
