/**
 * A delivery-like consumer-group member for cells/consumer/group-rebalance.test.ts: a
 * {@link GroupConsumer} on the topic, applying each order's events (`payload.seq` 1, 2, …) to a
 * shared SQLite "delivery database" with primary-key idempotency: an event at or below the
 * stored seq is a duplicate (counted, changes nothing), the next seq applies, a gap is an order
 * violation (counted). Each record takes 20 ms (16 at once), so a member falls behind the load and a kill finds hundreds of records taken and unfinished. Writes its
 * partitions to `members` at each join and prints JOINED.
 * Usage: node --import tsx group-member.test-helper.ts <dbFile> <brokers> <topic> <member>
 */
import Database from 'better-sqlite3';
import { createLogger } from '../../shared/logger.js';
import { GroupConsumer } from './group-consumer.js';

const [dbFile, brokers, topic, member] = process.argv.slice(2);
if (!dbFile || !brokers || !topic || !member) throw new Error('usage: <dbFile> <brokers> <topic> <member>');
const db = new Database(dbFile);
db.pragma('journal_mode = WAL');
db.pragma('busy_timeout = 5000');
const get = db.prepare<[string], { seq: number }>('SELECT seq FROM deliveries WHERE order_id = ?');
const insert = db.prepare('INSERT INTO deliveries (order_id, seq, member) VALUES (?, ?, ?)');
const update = db.prepare('UPDATE deliveries SET seq = ?, member = ? WHERE order_id = ?');
const count = db.prepare('INSERT INTO counts (member, kind, n) VALUES (?, ?, 1) ON CONFLICT (member, kind) DO UPDATE SET n = n + 1');
const apply = db.transaction((key: string, seq: number): void => {
  const row = get.get(key);
  const have = row?.seq ?? 0;
  if (seq <= have) count.run(member, 'duplicate');
  else if (seq !== have + 1) count.run(member, 'gap');
  else {
    if (row) update.run(seq, member, key);
    else insert.run(key, seq, member);
    count.run(member, 'applied');
  }
});
const consumer = new GroupConsumer({
  brokers: brokers.split(','),
  topic,
  group: 'delivery',
  clientId: member,
  workers: 16,
  logger: createLogger('group-member', { member }),
  handler: async (rec) => {
    await new Promise((r) => setTimeout(r, 20));
    apply.immediate(rec.key, (JSON.parse(rec.payload) as { seq: number }).seq);
  },
  onJoin: (partitions) => {
    db.prepare('INSERT OR REPLACE INTO members (member, partitions, at) VALUES (?, ?, ?)').run(
      member,
      JSON.stringify(partitions),
      Date.now(),
    );
    process.stdout.write(`JOINED ${JSON.stringify(partitions)}\n`);
  },
});
await consumer.start();
const stop = () => void consumer.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
