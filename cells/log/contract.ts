/**
 * The {@link EventLog} contract as one suite, run against every implementation (SQLite and a
 * real Kafka broker, cells/log/log-contract.test.ts): partitions fixed at creation, per-key
 * order with offsets from 0 and no gaps, reads by offset, committed offsets per group that
 * never move backwards, every field round-tripped, and the key-ordered consumer on top.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { KeyOrderedConsumer } from '../consumer/consumer.js';
import type { AppendRecord, EventLog, LogRecord } from './types.js';

/** Makes logs for the suite: `open(name, partitions)` opens (or reopens) the log called `name`. */
export interface LogFactory {
  open(name: string, partitions: number): Promise<EventLog>;
}

/** `n` records over `keys` keys, event ids `<prefix><i>`. */
export function records(n: number, keys: number, prefix = 'e'): AppendRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `order-${i % keys}`,
    market: `m${i % 3}`,
    eventId: `${prefix}${i}`,
    type: i % 2 === 0 ? 'OrderPlaced' : 'OrderCancelled',
    payload: JSON.stringify({ i, note: 'ü ✓' }),
    createdAt: 1_700_000_000_000 + i,
  }));
}

async function readAll(log: EventLog, partition: number): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (;;) {
    const page = await log.read(partition, out.length === 0 ? 0 : out[out.length - 1]!.offset + 1, 50);
    if (page.length === 0) return out;
    out.push(...page);
  }
}

/** Registers the contract's tests (call inside a describe). */
export function eventLogContract(factory: () => LogFactory): void {
  it('keeps the partition count of the first open', async () => {
    const f = factory();
    const log = await f.open('fixed', 3);
    assert.equal(log.partitions, 3);
    const again = await f.open('fixed', 5);
    assert.equal(again.partitions, 3);
    for (const k of ['a', 'order-1', 'chicago']) assert.equal(again.partitionFor(k), log.partitionFor(k));
  });

  it('appends each key to one partition in order, offsets from 0 without gaps, every field kept', async () => {
    const log = await factory().open('order', 4);
    const recs = records(120, 9);
    await log.append(recs.slice(0, 70));
    await log.append(recs.slice(70));
    let total = 0;
    for (let p = 0; p < log.partitions; p++) {
      const got = await readAll(log, p);
      total += got.length;
      assert.deepEqual(
        got.map((r) => r.offset),
        got.map((_, i) => i),
      );
      assert.equal(await log.endOffset(p), got.length);
      for (const r of got) {
        assert.equal(r.partition, p);
        assert.equal(log.partitionFor(r.key), p);
      }
      const want = recs.filter((r) => log.partitionFor(r.key) === p);
      assert.deepEqual(
        got.map(({ partition: _p, offset: _o, ...rest }) => rest),
        want,
      );
    }
    assert.equal(total, recs.length);
  });

  it('reads from an offset, at most max records, and nothing past the end', async () => {
    const log = await factory().open('reads', 1);
    await log.append(records(30, 1));
    const mid = await log.read(0, 10, 5);
    assert.deepEqual(
      mid.map((r) => r.offset),
      [10, 11, 12, 13, 14],
    );
    assert.deepEqual(await log.read(0, 30, 10), []);
    assert.equal(await log.endOffset(0), 30);
  });

  it('commits per group and partition, 0 before the first commit, never backwards', async () => {
    const log = await factory().open('offsets', 2);
    await log.append(records(10, 2));
    assert.equal(await log.committed('g1', 0), 0);
    await log.commit('g1', 0, 4);
    await log.commit('g1', 1, 2);
    await log.commit('g1', 0, 3);
    assert.equal(await log.committed('g1', 0), 4);
    assert.equal(await log.committed('g1', 1), 2);
    assert.equal(await log.committed('g2', 0), 0);
  });

  it('feeds the key-ordered consumer: every record once, per-key order, workers beyond partitions, all committed', async () => {
    const log = await factory().open('consumed', 2);
    const recs = records(200, 16);
    await log.append(recs);
    const seen = new Map<string, number[]>();
    const running = new Set<string>();
    let overlap = 0;
    let done = 0;
    let peak = 0;
    const c = new KeyOrderedConsumer({
      log,
      group: 'delivery',
      workers: 8,
      pollMs: 5,
      handler: async (r) => {
        if (running.has(r.key)) overlap++;
        running.add(r.key);
        peak = Math.max(peak, running.size);
        await new Promise((res) => setTimeout(res, 2));
        running.delete(r.key);
        seen.set(r.key, [...(seen.get(r.key) ?? []), (JSON.parse(r.payload) as { i: number }).i]);
        done++;
      },
    });
    c.start();
    const deadline = Date.now() + 60_000;
    while (done < recs.length && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    await c.stop();
    assert.equal(done, recs.length);
    assert.equal(overlap, 0);
    assert.ok(peak > log.partitions, `peak concurrency ${peak} should exceed ${log.partitions} partitions`);
    for (const list of seen.values())
      assert.deepEqual(
        list,
        [...list].sort((a, b) => a - b),
      );
    for (let p = 0; p < log.partitions; p++) assert.equal(await log.committed('delivery', p), await log.endOffset(p));
  });
}
