/**
 * The market writer and follower against the real pinned Consul: a write through the writer
 * reaches the follower through the change log with one key read; writes made without the log
 * (a lost wake-up) and deletions are caught by the paced listing; a gap in the log and a Consul
 * restart that lost every key are caught at once; a listing older than a point read never undoes it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { ConsulClient } from '../consul/client.js';
import type { KvDiff } from '../kv-diff.js';
import { KvLayout, type MarketRecord } from '../kv.js';
import { CHANGE_LOG_SIZE } from './change-log.js';
import { MarketFollower, type FollowStep } from './follower.js';
import { MarketWriter } from './writer.js';

let agent: ConsulAgent;
let consul: ConsulClient;

before(async () => {
  agent = await startConsul({ name: 'market-follower-test' });
  consul = new ConsulClient({ url: agent.url });
});
after(async () => {
  await agent.proc.stop();
});

const rec = (cell: string, epoch = 1): MarketRecord => ({ cell, state: 'active', epoch });

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

interface Seen {
  steps: FollowStep[];
  diffs: KvDiff<MarketRecord>[];
  errors: string[];
}

function follow(
  layout: KvLayout,
  pacing: { minMs?: number; maxMs?: number; costFactor?: number },
  c = consul,
): { f: MarketFollower; seen: Seen } {
  const seen: Seen = { steps: [], diffs: [], errors: [] };
  const f = new MarketFollower({
    consul: c,
    layout,
    wait: '5s',
    pacing,
    onDiff: (d, step) => {
      seen.diffs.push(d);
      seen.steps.push(step);
    },
    onError: (what, err) => seen.errors.push(`${what}: ${err.message}`),
  });
  f.start();
  return { f, seen };
}

describe('MarketWriter', () => {
  it('writes the record and its change-log entry in one transaction, check-and-set on the record', async () => {
    const layout = new KvLayout('w1/');
    const w = new MarketWriter(consul, layout);
    assert.equal(await w.put('m-1', rec('cell-1'), { cas: 0 }), true);
    assert.equal(await w.put('m-1', rec('cell-2'), { cas: 0 }), false, 'create-only refuses an existing market');
    const { value } = await consul.kv.get(layout.marketKey('m-1'));
    assert.deepEqual(JSON.parse(value!.value!), rec('cell-1'));
    assert.equal(await w.put('m-1', rec('cell-2', 2), { cas: 1 }), false, 'a stale index writes nothing');
    assert.equal(await w.put('m-1', rec('cell-2', 2), { cas: value!.modifyIndex }), true);
    const { log } = await w.readLog();
    assert.deepEqual(log, { seq: 2, markets: ['m-1', 'm-1'] }, 'failed writes leave no log entry');
  });

  it('keeps the log to its size while writers race for it', async () => {
    const layout = new KvLayout('w2/');
    const w = new MarketWriter(consul, layout);
    const n = CHANGE_LOG_SIZE + 22;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => w.put(`m-${i}`, rec('cell-1'))));
    assert.ok(results.every(Boolean));
    const { log } = await w.readLog();
    assert.equal(log.seq, n, 'every write counted once');
    assert.equal(log.markets.length, CHANGE_LOG_SIZE);
    assert.equal(await w.createMany(Array.from({ length: 100 }, (_, i) => [`n-${i}`, rec('cell-2')] as const)), 100);
    assert.equal(
      await w.createMany([
        ['n-1', rec('cell-3')],
        ['n-new', rec('cell-3')],
      ]),
      1,
      'a batch with an existing market is written one by one',
    );
    assert.equal((await w.readLog()).log.seq, n + 101);
  });
});

describe('MarketFollower', () => {
  it('applies a product write through the change log with one small read, then a listing catches direct writes and deletions', async () => {
    const layout = new KvLayout('f1/');
    const w = new MarketWriter(consul, layout);
    await w.createMany(Array.from({ length: 500 }, (_, i) => [`m-${i}`, rec('cell-1')] as const));
    const { f, seen } = follow(layout, { minMs: 1500, maxMs: 1500 });
    try {
      await until('the first listing', () => f.ready);
      assert.equal(f.records.size, 500);
      const listings = f.info().listings;
      await w.put('m-7', rec('cell-2', 2));
      await until('the move', () => f.records.get('m-7')?.cell === 'cell-2', 1000);
      const step = seen.steps.at(-1)!;
      assert.equal(step.via, 'changes', 'seen through the log, not a listing');
      assert.equal(f.info().listings, listings, 'no listing between');
      const listed = seen.steps.find((st) => st.via === 'listing')!.bytes;
      assert.ok(
        step.bytes < 4096 && step.bytes * 10 < listed,
        `one move read ${step.bytes} bytes (the log and one key), the prefix ${listed}`,
      );
      assert.deepEqual(seen.diffs.at(-1)!.upserts, [['m-7', rec('cell-2', 2)]]);

      // a write without the log (the lost wake-up) and a deletion: only the listing sees them
      await consul.kv.put(layout.marketKey('m-8'), JSON.stringify(rec('cell-3', 2)));
      await consul.kv.delete(layout.marketKey('m-9'));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(f.records.get('m-8')?.cell, 'cell-1', 'not seen before the listing');
      await until('the reconcile', () => f.records.get('m-8')?.cell === 'cell-3' && f.records.get('m-9') === undefined, 4000);
      assert.equal(seen.steps.at(-1)!.via, 'listing');
      assert.deepEqual(seen.errors, []);
    } finally {
      f.stop();
    }
  });

  it('reads the whole prefix at once on a gap in the log (more changes than it holds)', async () => {
    const layout = new KvLayout('f2/');
    const w = new MarketWriter(consul, layout);
    await w.put('m-0', rec('cell-1'));
    const { f } = follow(layout, { minMs: 60_000, maxMs: 60_000 });
    try {
      await until('the first listing', () => f.ready);
      // writes the follower cannot read one by one in time: a batch bigger than the log
      await w.createMany(Array.from({ length: CHANGE_LOG_SIZE + 10 }, (_, i) => [`g-${i}`, rec('cell-2')] as const));
      await until('every market', () => f.records.size === CHANGE_LOG_SIZE + 11, 3000);
      assert.ok(f.info().forcedListings >= 1 || f.info().keyReads >= CHANGE_LOG_SIZE + 10, JSON.stringify(f.info()));
    } finally {
      f.stop();
    }
  });

  it('after a Consul restart that lost every key, follows the new data (the log went back to zero)', async () => {
    const own = await startConsul({ name: 'market-follower-restart' });
    const c = new ConsulClient({ url: own.url });
    const layout = new KvLayout('f3/');
    let w = new MarketWriter(c, layout);
    for (let i = 0; i < 30; i++) await w.put(`m-${i % 3}`, rec('cell-1', i + 1));
    const { f, seen } = follow(layout, { minMs: 60_000, maxMs: 60_000 }, c);
    let restarted: ConsulAgent | undefined;
    try {
      await until('the first listing', () => f.ready);
      assert.equal(f.records.get('m-2')?.epoch, 30);
      await own.proc.stop();
      restarted = await startConsul({ name: 'market-follower-restart', ports: own.ports });
      await until('the empty Consul reported', () => seen.errors.some((e) => e.startsWith('listing: consul answered')), 10_000);
      assert.equal(f.records.get('m-2')?.epoch, 30, 'an empty Consul does not empty the table: the last good records stay');
      w = new MarketWriter(c, layout);
      await w.put('m-0', rec('cell-9', 1));
      await w.put('m-5', rec('cell-9', 1));
      // the new Consul's indexes are far below the ones held, and the log's sequence went back
      await until('the new data', () => f.records.get('m-0')?.cell === 'cell-9' && f.records.get('m-5') !== undefined, 15_000);
      assert.equal(f.records.get('m-2'), undefined, 'once written again, the new Consul is the truth');
    } finally {
      f.stop();
      await restarted?.proc.stop();
      await own.proc.stop().catch(() => undefined);
    }
  });
});

describe('MarketFollower retries', () => {
  it('tries a failed read again after at most maxRetryMs, however many failed before (a Consul back after a partition is read within it)', async () => {
    // A port nothing listens on: every read fails at once.
    const down = await startConsul({ name: 'market-follower-down' });
    const url = down.url;
    await down.proc.stop();
    const waits: number[] = [];
    const f = new MarketFollower({
      consul: new ConsulClient({ url }),
      layout: new KvLayout('r1/'),
      wait: '5s',
      maxRetryMs: 300,
      onDiff: () => undefined,
      onError: (_what, _err, _attempt, retryInMs) => waits.push(retryInMs),
    });
    f.start();
    try {
      await until('10 failed reads', () => waits.length >= 10, 15_000);
    } finally {
      f.stop();
    }
    assert.ok(
      waits.every((ms) => ms <= 300),
      `waits ${waits.map(Math.round).join(', ')} ms`,
    );
  });
});
