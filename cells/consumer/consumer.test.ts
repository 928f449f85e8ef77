import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDb } from '../db/open.js';
import { SqliteLog } from '../log/sqlite-log.js';
import type { LogRecord } from '../log/types.js';
import { tempDir } from '../testing.js';
import { KeyOrderedConsumer } from './consumer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function records(n: number, keys: number) {
  return Array.from({ length: n }, (_, i) => ({
    key: `order-${i % keys}`,
    market: 'm1',
    eventId: `e${i}`,
    type: 'test',
    payload: String(i),
    createdAt: i,
  }));
}

describe('key-ordered consumer over the SQLite log', () => {
  it('keeps per-key order with more workers than partitions, and commits everything', async () => {
    const tmp = tempDir();
    const db = openDb(tmp.dir);
    try {
      const log = new SqliteLog(db, 2);
      await log.append(records(300, 20));
      const byKey = new Map<string, number[]>();
      const running = new Set<string>();
      let overlap = 0;
      let peak = 0;
      const c = new KeyOrderedConsumer({
        log,
        group: 'g',
        workers: 8,
        pollMs: 2,
        handler: async (r: LogRecord) => {
          if (running.has(r.key)) overlap++;
          running.add(r.key);
          peak = Math.max(peak, running.size);
          await sleep(1);
          byKey.set(r.key, [...(byKey.get(r.key) ?? []), Number(r.payload)]);
          running.delete(r.key);
        },
      });
      c.start();
      const deadline = Date.now() + 10_000;
      while ([...byKey.values()].reduce((s, v) => s + v.length, 0) < 300 && Date.now() < deadline) await sleep(10);
      await c.stop();
      assert.equal(overlap, 0, 'two records of one key ran at the same time');
      assert.ok(peak > 2, `concurrency ${peak} should exceed the 2 partitions`);
      for (const [k, seq] of byKey)
        assert.deepEqual(
          seq,
          [...seq].sort((a, b) => a - b),
          `order of ${k}`,
        );
      assert.equal((await log.committed('g', 0)) + (await log.committed('g', 1)), 300);
    } finally {
      db.close();
      tmp.cleanup();
    }
  });

  it('after a stop mid-stream, a new consumer resumes from the committed offset (at least once, none lost)', async () => {
    const tmp = tempDir();
    const db = openDb(tmp.dir);
    try {
      const log = new SqliteLog(db, 1);
      await log.append(records(100, 10));
      const seen: number[] = [];
      const mk = () =>
        new KeyOrderedConsumer({
          log,
          group: 'g',
          workers: 4,
          pollMs: 2,
          maxInFlight: 10,
          handler: async (r) => void seen.push(Number(r.payload)),
        });
      const first = mk();
      first.start();
      while (seen.length < 30) await sleep(1);
      await first.stop();
      const committed = await log.committed('g', 0);
      assert.ok(committed >= 30 && committed <= 100);
      const second = mk();
      second.start();
      while (new Set(seen).size < 100) await sleep(5);
      await second.stop();
      assert.deepEqual(
        [...new Set(seen)].sort((a, b) => a - b),
        Array.from({ length: 100 }, (_, i) => i),
      );
      assert.equal(await log.committed('g', 0), 100);
    } finally {
      db.close();
      tmp.cleanup();
    }
  });
});
