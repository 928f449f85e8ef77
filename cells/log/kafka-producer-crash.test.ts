/**
 * Producer idempotence end to end against a real broker: a relay process (the cell's own relay
 * and KafkaLog, cells/log/relay-child.test-helper.ts) is killed with SIGKILL in the middle of an
 * outbox batch, after part of it was acknowledged, and restarted on the same database: the topic
 * then holds every outbox event exactly once, each key's events in outbox order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startKafka } from '../../infra/harness/kafka.js';
import { ProcessScope } from '../../infra/process.js';
import { openDb } from '../db/open.js';
import { stmt } from '../db/stmt.js';
import { tempDir } from '../testing.js';
import { KafkaLog } from './kafka-log.js';
import type { LogRecord } from './types.js';

const EVENTS = 1200;
const HELPER = new URL('./relay-child.test-helper.ts', import.meta.url).pathname;

describe('producer killed mid-batch (real broker)', () => {
  it('writes every outbox event exactly once, in key order, after a restart', async () => {
    const broker = await startKafka({ name: 'kafka-producer-crash' });
    const tmp = tempDir();
    let log: KafkaLog | undefined;
    try {
      const db = openDb(tmp.dir);
      const ins = stmt(db, 'INSERT INTO outbox (event_id, market, key, type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)');
      db.transaction(() => {
        for (let i = 0; i < EVENTS; i++) ins.run(`ev-${i}`, 'mk', `order-${i % 37}`, 'order.created', JSON.stringify({ seq: i }), i);
      })();
      db.close();
      const relay = (name: string, extra: string[]) => ({
        name,
        command: process.execPath,
        args: ['--import', 'tsx', HELPER, tmp.dir, broker.bootstrap, 'crash.orders', ...extra],
        ready: { logLine: /HUNG|DONE/ },
        readyTimeoutMs: 120_000,
      });
      await new ProcessScope().run(async (scope) => {
        // The first batch (500) goes through; the second hangs after 150 of its 500 are acknowledged.
        const first = await scope.start(relay('relay-hung', ['--hang-after', '650']));
        assert.match(first.output(), /HUNG/);
        await first.kill();
        log = await KafkaLog.open({ brokers: [broker.bootstrap], topic: 'crash.orders', partitions: 4 });
        let written = 0;
        for (let p = 0; p < log.partitions; p++) written += await log.endOffset(p);
        assert.equal(written, 650, 'killed in the middle of the second batch');
        const second = await scope.start(relay('relay-restarted', []));
        await second.exited;
        assert.match(second.output(), /DONE/);
      });
      const all: LogRecord[] = [];
      for (let p = 0; p < log!.partitions; p++) {
        for (let from = 0; ;) {
          const page = await log!.read(p, from, 500);
          if (page.length === 0) break;
          all.push(...page);
          from = page[page.length - 1]!.offset + 1;
        }
      }
      const ids = all.map((r) => r.eventId);
      assert.equal(new Set(ids).size, ids.length, `${ids.length - new Set(ids).size} duplicate records`);
      assert.equal(ids.length, EVENTS);
      const byKey = new Map<string, number[]>();
      for (const r of all) byKey.set(r.key, [...(byKey.get(r.key) ?? []), (JSON.parse(r.payload) as { seq: number }).seq]);
      for (const [key, seqs] of byKey)
        assert.deepEqual(
          seqs,
          [...seqs].sort((a, b) => a - b),
          `order of ${key}`,
        );
    } finally {
      await log?.close();
      await broker.stop();
      tmp.cleanup();
    }
  });
});
