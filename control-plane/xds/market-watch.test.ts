/** The market watch's shard partition (the Consul side is exercised by the Envoy tests and bench:xds). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { partitionPrefixes } from './market-watch.js';

describe('market shard partition', () => {
  const ids = Array.from({ length: 100_000 }, (_, i) => `m-${i}`);

  it('splits the largest prefix first, within the watch budget, shards no larger than needed', () => {
    const p = partitionPrefixes(ids, 1000, 96);
    assert.ok(p.length <= 96 && p.length > 50, `${p.length} shards`);
    const sizes = p.map((prefix) => ids.filter((id) => id.startsWith(prefix)).length);
    assert.ok(Math.max(...sizes) <= 11_111, `largest shard ${Math.max(...sizes)}`);
    const covered = ids.filter((id) => p.some((prefix) => id.startsWith(prefix))).length;
    assert.ok(covered >= ids.length * 0.99, `${covered} covered`);
  });

  it('uses no shard when the keys fit the target, and never overlapping prefixes', () => {
    assert.deepEqual(partitionPrefixes(['a', 'b'], 1000, 96), []);
    const p = partitionPrefixes(ids, 1000, 96);
    for (const a of p) for (const b of p) if (a !== b) assert.ok(!b.startsWith(a), `${a} overlaps ${b}`);
  });
});
