/**
 * The {@link EventLog} contract as one suite, run against every implementation (SQLite and a
 * real Kafka broker, cells/log/log-contract.test.ts): partitions fixed at creation, per-key
 * order with offsets from 0 and no gaps, reads by offset, committed offsets per group that
 * never move backwards, every field round-tripped. The key-ordered consumer on both:
 * cells/consumer/consumer-logs.test.ts.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
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
}
