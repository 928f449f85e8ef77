/**
 * One {@link EventLog} contract (cells/log/contract.ts), two implementations: SQLite in a temp
 * database, and Kafka on a real broker started for this file (infra/harness/kafka.ts; a topic
 * per test). A missing broker installation fails the Kafka suite, never skips it.
 */
import { after, before, describe } from 'node:test';
import { startKafka, type KafkaBroker } from '../../infra/harness/kafka.js';
import { openDb, type Db } from '../db/open.js';
import { tempDir } from '../testing.js';
import { eventLogContract, type LogFactory } from './contract.js';
import { KafkaLog } from './kafka-log.js';
import { SqliteLog } from './sqlite-log.js';

describe('EventLog contract: SQLite', () => {
  const dbs: { db: Db; cleanup: () => void }[] = [];
  after(() => {
    for (const d of dbs) {
      d.db.close();
      d.cleanup();
    }
  });
  eventLogContract((): LogFactory => {
    const tmp = tempDir('cellsim-log-');
    const db = openDb(tmp.dir);
    dbs.push({ db, cleanup: tmp.cleanup });
    return { open: async (_name, partitions) => new SqliteLog(db, partitions) };
  });
});

describe('EventLog contract: Kafka (real broker)', () => {
  let broker: KafkaBroker | undefined;
  const logs: KafkaLog[] = [];
  let n = 0;
  before(async () => {
    broker = await startKafka({ name: 'kafka-log-contract' });
  });
  after(async () => {
    await Promise.allSettled(logs.map((l) => l.close()));
    await broker?.stop();
  });
  eventLogContract((): LogFactory => {
    const run = ++n;
    return {
      open: async (name, partitions) => {
        if (!broker) throw new Error('no broker');
        const log = await KafkaLog.open({ brokers: [broker.bootstrap], topic: `t${run}.${name}`, partitions });
        logs.push(log);
        return log;
      },
    };
  });
});
