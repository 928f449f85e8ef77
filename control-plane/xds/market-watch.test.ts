/** The market watch: shard partition, and sharded blocking queries against a real Consul. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startConsul } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../../infra/harness/process.js';
import { createConsulClient } from '../../shared/consul.js';
import { KvLayout } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import { MarketWatch, partitionPrefixes } from './market-watch.js';

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
        maxShards: 8,
        wait: '5s',
      });
      w.start();
      try {
        await waitFor(
          () => w.ready && w.info().shards > 0,
          10_000,
          () => 'the watch to shard the markets',
        );
        assert.ok(w.info().shards <= 8);
        assert.equal(w.records.size, 40);

        const t0 = Date.now();
        await seedKv(consul.url, { markets: { 'a-3': { cell: 'cell-2', epoch: 2 } } });
        await waitFor(
          () => w.records.get('a-3')?.cell === 'cell-2',
          5000,
          () => 'the move of a-3',
        );
        assert.ok(Date.now() - t0 < 2000, `move seen in ${Date.now() - t0} ms`);

        await seedKv(consul.url, { markets: { 'z-1': { cell: 'cell-2' } } }); // outside every shard prefix
        await waitFor(
          () => w.records.has('z-1'),
          5000,
          () => 'a new market outside the shards (paced full read)',
        );

        await fetch(`${consul.url}/v1/kv/cellsim/markets/b-7`, { method: 'DELETE' });
        await waitFor(
          () => !w.records.has('b-7'),
          5000,
          () => 'the deletion of b-7',
        );

        await fetch(`${consul.url}/v1/kv/cellsim/markets/a-4`, { method: 'PUT', body: '{"cell":' });
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
