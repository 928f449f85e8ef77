/**
 * The Kafka harness against the real broker (the jars infra/install.sh caches): it formats and
 * starts a KRaft broker on free ports, the broker takes an idempotent producer's records, and
 * stop() leaves no process and no data directory; a start that fails cleans up too. Missing
 * jars or java fail the first test loudly (never a skip).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { Admin, Producer, stringSerializers } from '@platformatic/kafka';
import { locateKafka, requireKafka } from '../kafka-dist.js';
import { newClusterId, startKafka } from './kafka.js';

const ourDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('cellsim-kafka-'));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('kafka harness (real broker)', () => {
  it('draws cluster ids StorageTool parses: 22 URL-safe base64 characters, never a leading -', () => {
    for (let i = 0; i < 5000; i++) assert.match(newClusterId(), /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });

  it('finds the pinned jars and java (run npm run setup when this fails)', () => {
    const dist = requireKafka();
    assert.match(dist.version, /^\d+\.\d+\.\d+/);
    const saved = process.env.KAFKA_HOME;
    process.env.KAFKA_HOME = '/nonexistent-kafka';
    try {
      const missing = locateKafka();
      assert.ok('error' in missing && /KAFKA_HOME=\/nonexistent-kafka has no libs/.test(missing.error));
      assert.throws(() => requireKafka(), /KAFKA_HOME/);
    } finally {
      if (saved === undefined) delete process.env.KAFKA_HOME;
      else process.env.KAFKA_HOME = saved;
    }
  });

  it('starts a KRaft broker that takes idempotent writes, then stop() removes process and data', async () => {
    const before = new Set(ourDirs());
    const broker = await startKafka();
    const pid = broker.proc.pid;
    try {
      assert.ok(!before.has(broker.dataDir.split('/').pop()!));
      const admin = new Admin({ clientId: 'harness-test', bootstrapBrokers: [broker.bootstrap] });
      const producer = new Producer({
        clientId: 'harness-test',
        bootstrapBrokers: [broker.bootstrap],
        idempotent: true,
        serializers: stringSerializers,
      });
      try {
        await admin.createTopics({ topics: ['probe'], partitions: 3, replicas: 1 });
        await producer.send({ messages: [0, 1, 2].map((i) => ({ topic: 'probe', key: `k${i}`, value: `v${i}`, partition: i })) });
        const [topic] = await admin.listOffsets({
          topics: [{ name: 'probe', partitions: [0, 1, 2].map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) }],
        });
        assert.deepEqual(topic!.partitions.map((p) => Number(p.offset)).sort(), [1, 1, 1]);
      } finally {
        await Promise.all([admin.close(), producer.close()]);
      }
    } finally {
      await broker.stop();
    }
    assert.equal(alive(pid), false, 'the broker outlived stop()');
    assert.ok(!ourDirs().includes(broker.dataDir.split('/').pop()!), 'the data directory outlived stop()');
  });

  it('a broker that does not become ready in time is stopped and its data removed', async () => {
    const before = ourDirs().length;
    await assert.rejects(startKafka({ name: 'kafka-too-slow', readyTimeoutMs: 1 }), /kafka-too-slow did not start/);
    assert.equal(ourDirs().length, before);
  });
});
