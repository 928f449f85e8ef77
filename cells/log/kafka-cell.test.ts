/**
 * A cell process with `--log kafka` against a real broker (infra/harness/kafka.ts): orders go
 * through the cell's topic and every saga finishes; a replay of every event by another producer
 * (duplicates a new producer could write) changes no delivery (primary-key idempotency of the
 * consumer); bad `--log`/`--kafka` flags are usage errors that start nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { startKafka } from '../../infra/harness/kafka.js';
import { ProcessScope } from '../../infra/process.js';
import { DELIVERY_GROUP } from '../context.js';
import { client, eventually, orderBody, postOrder, startCellProcess, tempDir } from '../testing.js';
import { KafkaLog, topicName } from './kafka-log.js';
import type { LogRecord } from './types.js';

const TIMERS = ['--assign-delay', '5ms', '--pickup-after', '80ms', '--deliver-after', '80ms', '--lease-ttl', '1s'];
const ROOT = new URL('../..', import.meta.url).pathname;

interface Summary {
  orders: number;
  deliveries: number;
  checksum: string;
  pending: Record<string, number>;
}

async function allRecords(log: KafkaLog): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (let p = 0; p < log.partitions; p++) {
    for (let from = 0; ;) {
      const page = await log.read(p, from, 500);
      if (page.length === 0) break;
      out.push(...page);
      from = page[page.length - 1]!.offset + 1;
    }
  }
  return out;
}

describe('a cell on the Kafka log (real broker)', () => {
  it('runs every saga through its topic, and absorbs a replay of every event', async () => {
    const broker = await startKafka({ name: 'kafka-cell' });
    const tmp = tempDir();
    let log: KafkaLog | undefined;
    try {
      await new ProcessScope().run(async (scope) => {
        const cell = await startCellProcess(scope, {
          id: 'cell-kf',
          dataDir: tmp.dir,
          args: [...TIMERS, '--partitions', '4', '--log', 'kafka', '--kafka', broker.bootstrap],
        });
        const c = client(cell.url);
        const ids: string[] = [];
        for (let i = 0; i < 40; i++) {
          const res = await postOrder(c, 'mk', `k${i}`, orderBody({ customerId: `c${i}` }));
          assert.equal(res.status, 201);
          ids.push(((await res.json()) as { id: string }).id);
        }
        const delivered = async () => {
          for (const id of ids)
            if (((await (await c(`/v1/orders/${id}`)).json()) as { status: string }).status !== 'DELIVERED') return false;
          return true;
        };
        const duplicates = async () => {
          const text = await (await c('/metrics')).text();
          let n = 0;
          for (const m of text.matchAll(/^cellsim_consumer_events_total\{[^}]*outcome="duplicate"[^}]*\} (\d+)/gm)) n += Number(m[1]);
          return n;
        };
        const settled = async () =>
          eventually(
            async () => {
              // Every order final first, then the summary: its checksum is of final states only.
              if (!(await delivered())) return undefined;
              const s = (await (await c('/admin/markets/mk/summary')).json()) as Summary;
              return s.orders === 40 && s.deliveries === 40 && Object.values(s.pending).every((n) => n === 0) ? s : undefined;
            },
            60_000,
            'every saga through the Kafka log',
          );
        const before = await settled();
        const duplicatesBefore = await duplicates();

        log = await KafkaLog.open({ brokers: [broker.bootstrap], topic: topicName('cell-kf', 'orders'), partitions: 99 });
        assert.equal(log.partitions, 4, 'the topic keeps the partition count the cell created it with');
        const events = await allRecords(log);
        assert.ok(events.length >= 40, `${events.length} events in the topic`);
        assert.equal(new Set(events.map((e) => e.eventId)).size, events.length, 'no event twice in the topic');
        for (let p = 0; p < 4; p++) assert.equal(await log.committed(DELIVERY_GROUP, p), await log.endOffset(p));

        // Another producer (no duplicate check) writes every event again, to its key's partition.
        const producer = new Producer({
          clientId: 'replay',
          bootstrapBrokers: [broker.bootstrap],
          idempotent: true,
          serializers: stringSerializers,
        });
        try {
          await producer.send({
            messages: events.map((e) => ({
              topic: topicName('cell-kf', 'orders'),
              key: e.key,
              partition: e.partition,
              value: JSON.stringify({ market: e.market, eventId: e.eventId, type: e.type, payload: e.payload, createdAt: e.createdAt }),
            })),
          });
        } finally {
          await producer.close();
        }
        await eventually(
          async () => {
            for (let p = 0; p < 4; p++) if ((await log!.committed(DELIVERY_GROUP, p)) < (await log!.endOffset(p))) return undefined;
            return true;
          },
          60_000,
          'the consumer to pass the replayed events',
        );
        const after = await settled();
        assert.equal(after.deliveries, before.deliveries, 'a replayed event made a delivery twice');
        assert.equal(after.checksum, before.checksum, 'a replayed event changed an order');
        assert.equal((await duplicates()) - duplicatesBefore, events.length, 'every replayed event was seen, as a duplicate');
      });
    } finally {
      await log?.close();
      await broker.stop();
      tmp.cleanup();
    }
  });

  it('--log kafka without --kafka, and --kafka without --log kafka, are usage errors that write nothing', () => {
    const tmp = tempDir();
    try {
      const data = join(tmp.dir, 'data');
      for (const extra of [
        ['--log', 'kafka'],
        ['--kafka', '127.0.0.1:9092'],
        ['--log', 'kafka', '--kafka', 'nohost'],
      ]) {
        const res = spawnSync(
          process.execPath,
          ['bin/cellctl.js', 'cell', '--id', 'c1', '--port', '0', '--data', data, '--no-consul', ...extra],
          {
            cwd: ROOT,
            encoding: 'utf8',
            timeout: 60_000,
          },
        );
        assert.equal(res.status, 1, `${extra.join(' ')}: ${res.stderr}`);
        assert.match(res.stderr, /--kafka|--log kafka/);
        assert.equal(existsSync(data), false);
      }
    } finally {
      tmp.cleanup();
    }
  });
});
