/**
 * Unit: MarketShards re-partitions only from a whole view of markets/. A table whose shards have
 * not all answered yet is half-loaded, not shrunken; a partition over it would drop the unread
 * shards (the failure this guards against: docs/router.md §Routing table). The queries are
 * stand-ins here; router/market-shards.test.ts runs them for real.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvLayout, type MarketRecord } from '../../shared/kv.js';
import { MarketShards, type MarketShard } from './market-shards.js';

const layout = new KvLayout('cellsim');
const ids = Array.from({ length: 3000 }, (_, i) => `m-${i}`);

function item(id: string, modifyIndex = 10) {
  const value: MarketRecord = { cell: 'cell-a', state: 'active', epoch: 1 };
  return { Key: layout.marketKey(id), Value: Buffer.from(JSON.stringify(value)).toString('base64'), ModifyIndex: modifyIndex };
}

/** Answers `shard` from Consul with its share of `ids`, as a blocking query would. */
function answer(shard: MarketShard, all: readonly string[]): void {
  const mine = all.filter((id) => (shard.exact ? layout.marketKey(id) === shard.key : layout.marketKey(id).startsWith(shard.key)));
  shard.diff.apply(mine.map((id) => item(id)));
  shard.answered = true;
}

function planned(): { shards: MarketShards; followed: string[] } {
  const followed: string[] = [];
  const shards = new MarketShards({
    layout,
    max: 64,
    follow: (s) => {
      followed.push(s.key);
      return { stop: () => undefined, index: 0 };
    },
  });
  shards.plan(ids);
  shards.start();
  return { shards, followed };
}

describe('MarketShards re-partitioning', () => {
  it('refuses to re-partition from held records while some shards have not answered', () => {
    const { shards } = planned();
    const list = shards.list();
    assert.ok(list.length > 2, `${list.length} shards planned for 3,000 markets`);
    for (const s of list.slice(0, Math.floor(list.length / 2))) answer(s, ids);
    assert.equal(shards.settled, false);
    assert.ok(shards.size < ids.length * 0.9, 'the half-loaded table looks shrunken by more than 10 %');
    assert.ok(shards.drifted(shards.size));
    assert.equal(shards.reshard(), false, 'no reshard from a half-loaded table');
    assert.equal(shards.list().length, list.length);
    for (const id of ids) assert.ok(shards.shardOf(id), `${id} is still followed`);
  });

  it('re-partitions from held records once every shard answered, keeping every market followed', () => {
    const { shards } = planned();
    for (const s of shards.list()) answer(s, ids);
    assert.equal(shards.settled, true);
    assert.equal(shards.size, ids.length);
    assert.equal(shards.reshard(), false, 'same markets, same partition');
    // half the markets deleted: every shard answers without them, and the table really shrank
    const kept = ids.filter((_, i) => i % 2 === 0);
    for (const s of shards.list()) answer(s, kept);
    assert.ok(shards.drifted(shards.size));
    assert.equal(shards.reshard(), true);
    assert.equal(shards.settled, false, 'the new shards have not answered yet');
    assert.equal(shards.size, kept.length, 'the new shards are seeded with the records they take over');
    for (const id of kept) assert.ok(shards.shardOf(id), `${id} is followed`);
  });

  it('a discovery listing re-partitions a half-loaded table over every listed market', () => {
    const { shards, followed } = planned();
    const first = shards.list();
    answer(first[0]!, ids);
    const extra = Array.from({ length: 1000 }, (_, i) => `zz-${i}`);
    const listed = [...ids, ...extra];
    assert.equal(shards.reshard(listed), true);
    for (const id of listed) assert.ok(shards.shardOf(id), `${id} is followed`);
    assert.ok(followed.length > first.length, 'the new shards were started');
  });
});
