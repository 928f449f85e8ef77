/**
 * The key-ordered consumer over both EventLog implementations: SQLite in a temp database and
 * Kafka on a real broker started for this file (infra/harness/kafka.ts). Every record once,
 * order per key, more workers at once than partitions, and every partition committed to its
 * end after stop.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startKafka, type KafkaBroker } from '../../infra/harness/kafka.js';
import { openDb, type Db } from '../db/open.js';
import { records } from '../log/contract.js';
import { KafkaLog } from '../log/kafka-log.js';
import { SqliteLog } from '../log/sqlite-log.js';
import type { EventLog } from '../log/types.js';
import { tempDir } from '../testing.js';
import { KeyOrderedConsumer } from './consumer.js';

function consumerSuite(open: (name: string, partitions: number) => Promise<EventLog>): void {
  it('every record once, per-key order, workers beyond partitions, all committed', async () => {
    const log = await open('consumed', 2);
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

describe('key-ordered consumer on the SQLite log', () => {
  let db: Db | undefined;
  const tmp = tempDir('cellsim-consumer-');
  after(() => {
    db?.close();
    tmp.cleanup();
  });
  consumerSuite(async (_name, partitions) => {
    db = openDb(tmp.dir);
    return new SqliteLog(db, partitions);
  });
});

describe('key-ordered consumer on the Kafka log (real broker)', () => {
  let broker: KafkaBroker | undefined;
  const logs: KafkaLog[] = [];
  before(async () => {
    broker = await startKafka({ name: 'kafka-consumer' });
  });
  after(async () => {
    await Promise.allSettled(logs.map((l) => l.close()));
    await broker?.stop();
  });
  consumerSuite(async (name, partitions) => {
    if (!broker) throw new Error('no broker');
    const log = await KafkaLog.open({ brokers: [broker.bootstrap], topic: name, partitions });
    logs.push(log);
    return log;
  });
});
