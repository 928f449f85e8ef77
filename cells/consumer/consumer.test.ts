import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDb } from '../db/open.js';
import { records } from '../log/contract.js';
import { SqliteLog } from '../log/sqlite-log.js';
import { tempDir } from '../testing.js';
import { KeyOrderedConsumer } from './consumer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `i` a contract record carries in its payload. */
const indexOf = (payload: string) => (JSON.parse(payload) as { i: number }).i;

// Every record once, per-key order and workers beyond partitions: consumer-logs.test.ts, on both logs.
describe('key-ordered consumer over the SQLite log', () => {
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
          handler: async (r) => void seen.push(indexOf(r.payload)),
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
