/** The market watch: shard partition, and sharded blocking queries against a real Consul. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startConsul } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../../infra/process.js';
import { createConsulClient } from '../../shared/consul.js';
import { KvLayout } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import { FIRST_CHARS, MarketWatch, NEXT_CHARS, partitionPrefixes } from './market-watch.js';

/** The shards covering `id` (a valid ID is covered by exactly one, or equals a split prefix). */
const coveringShards = (prefixes: readonly string[], id: string) => prefixes.filter((p) => id.startsWith(p));
/** Prefixes that were split (proper prefixes of a shard): IDs equal to one are the full read's. */
const splitPrefixes = (prefixes: readonly string[]) => new Set(prefixes.flatMap((p) => [...p].map((_, i) => p.slice(0, i))));

/** A random valid market ID (`^[a-z0-9][a-z0-9-]{0,62}$`) of 1–`maxLen` characters. */
function randomId(maxLen: number): string {
  const len = 1 + Math.floor(Math.random() ** 3 * maxLen);
  let id = FIRST_CHARS[Math.floor(Math.random() * FIRST_CHARS.length)]!;
  while (id.length < len) id += NEXT_CHARS[Math.floor(Math.random() * NEXT_CHARS.length)]!;
  return id;
}

describe('market shard partition', () => {
  const ids = Array.from({ length: 100_000 }, (_, i) => `m-${i}`);

  it('splits the largest prefix first, within the watch budget, shards no larger than needed', () => {
    const p = partitionPrefixes(ids, 1000, 448);
    assert.ok(p.length <= 448 && p.length > 400, `${p.length} shards`);
    const sizes = p.map((prefix) => ids.filter((id) => id.startsWith(prefix)).length);
    assert.ok(Math.max(...sizes) <= 1111, `largest shard ${Math.max(...sizes)}`);
    const covered = ids.filter((id) => p.some((prefix) => id.startsWith(prefix))).length;
    assert.ok(covered >= ids.length * 0.99, `${covered} covered`);
  });

  it('covers the whole market ID grammar: every split group gets all its possible children, empty ones too', () => {
    const p = partitionPrefixes(ids, 1000, 448);
    const split = splitPrefixes(p);
    assert.deepEqual([...split].sort(), ['', 'm', 'm-', 'm-1', 'm-2', 'm-3', 'm-4', 'm-5', 'm-6', 'm-7', 'm-8', 'm-9']);
    for (const parent of split) {
      const alphabet = parent === '' ? FIRST_CHARS : NEXT_CHARS;
      for (const c of alphabet) {
        const child = parent + c;
        assert.ok(p.includes(child) || split.has(child), `child ${child} of ${parent} covered`);
      }
    }
    // IDs unlike any existing one: each in exactly one shard, unless equal to a split prefix.
    for (let i = 0; i < 20_000; i++) {
      const id = randomId(63);
      const n = coveringShards(p, id).length;
      if (split.has(id)) assert.equal(n, 0, `${id} equals a split prefix: the full read's`);
      else assert.equal(n, 1, `${id} covered by ${n} shards`);
    }
    for (const id of ['q', 'zz-new', '0', '9-9', 'm-0', 'm-zeta', 'm--', `m-9${'9'.repeat(60)}`]) {
      assert.equal(coveringShards(p, id).length, split.has(id) ? 0 : 1, id);
    }
  });

  it('covers random IDs completely at every budget that allows the root split, and none below it', () => {
    const rnd = Array.from({ length: 30_000 }, () => randomId(12));
    for (const max of [36, 96, 448]) {
      const p = partitionPrefixes(rnd, 500, max);
      assert.ok(p.length <= max && p.length >= 36, `${max}: ${p.length} shards`);
      const split = splitPrefixes(p);
      for (const id of rnd) assert.equal(coveringShards(p, id).length, split.has(id) ? 0 : 1, `${max}: ${id}`);
    }
    assert.deepEqual(partitionPrefixes(rnd, 500, 35), [], 'the root split alone needs 36 shards');
  });

  it('uses no shard when the keys fit the target, and never overlapping prefixes', () => {
    assert.deepEqual(partitionPrefixes(['a', 'b'], 1000, 96), []);
    const p = partitionPrefixes(ids, 1000, 96);
    for (const a of p) for (const b of p) if (a !== b) assert.ok(!b.startsWith(a), `${a} overlaps ${b}`);
  });
});

describe('market watch with real Consul', () => {
  it('follows moves through shard watches, sees new keys outside every shard and deletions, ignores invalid values', async () => {
    const scope = new ProcessScope();
    await scope.run(async () => {
      const consul = await startConsul();
      scope.adopt(consul.proc);
      const markets: Record<string, { cell: string }> = {};
      for (let i = 0; i < 20; i++) markets[`a-${i}`] = markets[`b-${i}`] = { cell: 'cell-1' };
      await seedKv(consul.url, { markets });
      const log = createLogger('test');
      log.level = 'silent';
      const invalid: string[] = [];
      let changes = 0;
      const w = new MarketWatch({
        consul: createConsulClient(consul.url),
        layout: new KvLayout(),
        log,
        onChange: () => void (changes += 1),
        onInvalid: (key) => void invalid.push(key),
        onError: () => undefined,
        shardFrom: 10,
        shardTarget: 6,
        maxShards: 40,
        wait: '5s',
      });
      w.start();
      try {
        await waitFor(
          () => w.ready && w.info().shards > 0,
          10_000,
          () => 'the watch to shard the markets',
        );
        // The root split: one shard per possible first character; only a and b have keys, the
        // 34 empty ones are read together on KV writes instead of one blocking query each.
        assert.equal(w.info().shards + w.info().emptyShards, 36);
        assert.equal(w.info().shards, 2);
        assert.equal(w.records.size, 40);

        const t0 = Date.now();
        await seedKv(consul.url, { markets: { 'a-3': { cell: 'cell-2', epoch: 2 } } });
        await waitFor(
          () => w.records.get('a-3')?.cell === 'cell-2',
          5000,
          () => 'the move of a-3',
        );
        assert.ok(Date.now() - t0 < 2000, `move seen in ${Date.now() - t0} ms`);

        await seedKv(consul.url, { markets: { 'z-1': { cell: 'cell-2' } } }); // an empty shard until now
        await waitFor(
          () => w.records.has('z-1'),
          5000,
          () => 'a new market in a shard no existing market used',
        );

        await createConsulClient(consul.url).kv.delete('cellsim/markets/b-7');
        await waitFor(
          () => !w.records.has('b-7'),
          5000,
          () => 'the deletion of b-7',
        );

        await createConsulClient(consul.url).kv.put('cellsim/markets/a-4', '{"cell":');
        await waitFor(
          () => invalid.includes('cellsim/markets/a-4'),
          5000,
          () => 'the invalid value to be reported',
        );
        assert.equal(w.records.get('a-4')?.cell, 'cell-1', 'the last good value stays');
        assert.ok(changes >= 3);
      } finally {
        w.stop();
      }
    });
  });
});

describe('market watch at 6,000 markets with real Consul', () => {
  it('sees a brand-new market within a second through its shard, whatever its ID (no full read needed)', async () => {
    const scope = new ProcessScope();
    await scope.run(async () => {
      const consul = await startConsul();
      scope.adopt(consul.proc);
      const markets: Record<string, { cell: string }> = {};
      for (let i = 0; i < 6000; i++) markets[`m-${i}`] = { cell: 'cell-1' };
      await seedKv(consul.url, { markets });
      const log = createLogger('test');
      log.level = 'silent';
      const w = new MarketWatch({
        consul: createConsulClient(consul.url),
        layout: new KvLayout(),
        log,
        onChange: () => undefined,
        onInvalid: () => undefined,
        onError: () => undefined,
        fullReadMinMs: 60_000, // the paced full read cannot be what finds them
        wait: '30s',
      });
      w.start();
      try {
        await waitFor(
          () => w.ready && w.records.size === 6000 && w.info().shards > 0,
          15_000,
          () => 'the watch to shard 6,000 markets',
        );
        // Let the shard watches take their first answers.
        await new Promise((r) => setTimeout(r, 500));
        const reads = w.info().fullReads;
        for (const id of ['q-new', 'm-zeta', '7', 'm-5999-b']) {
          const t0 = performance.now();
          await seedKv(consul.url, { markets: { [id]: { cell: 'cell-2' } } });
          await waitFor(
            () => w.records.get(id)?.cell === 'cell-2',
            5000,
            () => `new market ${id}`,
            5,
          );
          const ms = performance.now() - t0;
          assert.ok(ms < 1000, `${id} seen in ${ms.toFixed(0)} ms`);
        }
        assert.equal(w.info().fullReads, reads, 'found by shards, not by a full read');
        assert.ok(w.info().emptyShards > 0 && w.info().shards < 100, `${w.info().shards} watched, ${w.info().emptyShards} empty`);
        // Only IDs equal to a split prefix are left to the full read: m-1 … m-5 (split into m-10 …).
        assert.equal(w.info().uncovered, 5);
      } finally {
        w.stop();
      }
    });
  });
});
