/**
 * Rebalancing against a real broker (infra/harness/kafka.ts): two consumer-group member
 * processes (cells/consumer/group-member.test-helper.ts, each a {@link GroupConsumer} writing to
 * one shared delivery database with primary-key idempotency) split a 6-partition topic; one is
 * killed with SIGKILL while orders keep coming. The group gives its partitions to the survivor;
 * every order reaches its last event exactly once in the database (none lost, none applied
 * twice), each key's events in order, and the group's committed offsets reach the end of every
 * partition.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { startKafka } from '../../infra/harness/kafka.js';
import { ProcessScope } from '../../infra/process.js';
import { KafkaLog } from '../log/kafka-log.js';
import { eventually, tempDir } from '../testing.js';

const HELPER = new URL('./group-member.test-helper.ts', import.meta.url).pathname;
const ORDERS = 1500;
const EVENTS_PER_ORDER = 2;
const PARTITIONS = 6;
const TOPIC = 'cellsim.rebalance.orders';

describe('consumer group rebalancing (real broker)', () => {
  it('moves a killed member’s partitions to the survivor: no event lost, duplicates absorbed, key order kept', async () => {
    const broker = await startKafka({ name: 'kafka-rebalance' });
    const tmp = tempDir();
    let log: KafkaLog | undefined;
    const dbFile = join(tmp.dir, 'delivery.sqlite');
    const db = new Database(dbFile);
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE deliveries (order_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, member TEXT NOT NULL);
      CREATE TABLE counts (member TEXT NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (member, kind));
      CREATE TABLE members (member TEXT PRIMARY KEY, partitions TEXT NOT NULL, at INTEGER NOT NULL);`);
    const counts = () => {
      const out: Record<string, number> = {};
      for (const r of db.prepare('SELECT member, kind, n FROM counts').all() as { member: string; kind: string; n: number }[])
        out[`${r.member}.${r.kind}`] = r.n;
      return out;
    };
    const held = (m: string) => {
      const row = db.prepare('SELECT partitions FROM members WHERE member = ?').get(m) as { partitions: string } | undefined;
      return row ? (JSON.parse(row.partitions) as number[]) : [];
    };
    try {
      log = await KafkaLog.open({ brokers: [broker.bootstrap], topic: TOPIC, partitions: PARTITIONS });
      await new ProcessScope().run(async (scope) => {
        const member = (name: string) =>
          scope.start({
            name,
            command: process.execPath,
            args: ['--import', 'tsx', HELPER, dbFile, broker.bootstrap, TOPIC, name],
            env: { CELLSIM_LOG_LEVEL: 'warn' },
            ready: { logLine: /JOINED/ },
            readyTimeoutMs: 60_000,
          });
        const a = await member('member-a');
        await member('member-b');
        await eventually(
          async () =>
            held('member-a').length > 0 && held('member-b').length > 0 && held('member-a').length + held('member-b').length === PARTITIONS
              ? true
              : undefined,
          60_000,
          'both members to hold partitions',
        );

        // Orders under load: created, then delivered, 100 events per append, a little apart.
        let sent = 0;
        const produce = async (upTo: number) => {
          for (; sent < upTo; sent += 50) {
            const batch = [];
            for (let i = sent; i < sent + 50; i++)
              for (let seq = 1; seq <= EVENTS_PER_ORDER; seq++)
                batch.push({
                  key: `order-${i}`,
                  market: 'mk',
                  eventId: `order-${i}:${seq}`,
                  type: `seq.${seq}`,
                  payload: JSON.stringify({ seq }),
                  createdAt: Date.now(),
                });
            await log!.append(batch);
            await new Promise((r) => setTimeout(r, 20));
          }
        };
        await produce(ORDERS / 3);
        await eventually(async () => ((counts()['member-a.applied'] ?? 0) > 50 ? true : undefined), 60_000, 'member-a to apply events');
        const killedAt = Date.now();
        await a.kill();
        await produce(ORDERS);

        await eventually(
          async () => (held('member-b').length === PARTITIONS ? true : undefined),
          60_000,
          'the survivor to hold every partition',
        );
        const rebalancedMs = (db.prepare('SELECT at FROM members WHERE member = ?').get('member-b') as { at: number }).at - killedAt;
        await eventually(
          async () => {
            const n = (db.prepare(`SELECT count(*) AS n FROM deliveries WHERE seq = ${EVENTS_PER_ORDER}`).get() as { n: number }).n;
            return n === ORDERS ? true : undefined;
          },
          90_000,
          'every order to reach its last event',
        );
        await eventually(
          async () => {
            for (let p = 0; p < PARTITIONS; p++) if ((await log!.committed('delivery', p)) < (await log!.endOffset(p))) return undefined;
            return true;
          },
          30_000,
          'the group to commit the end of every partition',
        );

        const c = counts();
        const rows = db.prepare('SELECT count(*) AS n FROM deliveries').get() as { n: number };
        process.stdout.write(`# rebalance after SIGKILL: ${rebalancedMs} ms; counts ${JSON.stringify(c)}\n`);
        assert.equal(rows.n, ORDERS, 'one delivery row per order');
        assert.equal((c['member-a.gap'] ?? 0) + (c['member-b.gap'] ?? 0), 0, 'an event applied before an earlier one of its key');
        assert.equal(
          (c['member-a.applied'] ?? 0) + (c['member-b.applied'] ?? 0),
          ORDERS * EVENTS_PER_ORDER,
          'every event applied exactly once',
        );
        assert.ok((c['member-b.applied'] ?? 0) > 0 && (c['member-a.applied'] ?? 0) > 0, 'both members applied events');
      });
    } finally {
      db.close();
      await log?.close();
      await broker.stop();
      tmp.cleanup();
    }
  });
});
