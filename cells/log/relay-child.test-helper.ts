/**
 * A relay process for cells/log/kafka-producer-crash.test.ts: moves a cell database's outbox
 * into a Kafka topic with the cell's own relay (cells/outbox/relay.ts) and KafkaLog, 50 records
 * per produce request. With `--hang-after <n>` it stops once n records are acknowledged in all
 * (prints HUNG), in the middle of a batch when n is not a multiple of 500, for the test to kill it.
 * Prints DONE when the outbox is empty.
 * Usage: node --import tsx relay-child.test-helper.ts <dataDir> <brokers> <topic> [--hang-after <n>]
 */
import { openDb } from '../db/open.js';
import { relayOnce } from '../outbox/relay.js';
import { KafkaLog } from './kafka-log.js';

const [dataDir, brokers, topic, flag, hangAfter] = process.argv.slice(2);
if (!dataDir || !brokers || !topic) throw new Error('usage: <dataDir> <brokers> <topic> [--hang-after <n>]');
const hang = flag === '--hang-after' ? Number(hangAfter) : undefined;
const db = openDb(dataDir);
let acked = 0;
const log = await KafkaLog.open({
  brokers: brokers.split(','),
  topic,
  partitions: 4,
  chunk: 50,
  onChunkAcked: (records) => {
    acked += records;
    if (hang !== undefined && acked >= hang) {
      process.stdout.write('HUNG\n');
      // Block the event loop as a stuck process would; the test sends SIGKILL.
      for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    }
  },
});
while ((await relayOnce(db, log, 500)) > 0) {
  /* next batch */
}
process.stdout.write('DONE\n');
await log.close();
db.close();
