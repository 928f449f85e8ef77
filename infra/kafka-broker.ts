/**
 * What starting an Apache Kafka broker takes, shared by the test harness (infra/harness/kafka.ts)
 * and `cellctl up --log kafka` (topology/kafka.ts): the configuration of a single-node KRaft
 * cluster, a cluster id, the JVM's arguments, formatting a storage directory with
 * kafka.tools.StorageTool, and the readiness probe (a metadata request naming the broker).
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { KafkaDist } from './kafka-dist.js';

/**
 * A cluster id: 16 random bytes in URL-safe base64 without padding (what `kafka-storage
 * random-uuid` prints), never starting with `-`, which StorageTool's argument parser would take
 * for an option (1 draw in 64 did: a broker start failed at random).
 */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * The broker's configuration: a single-node cluster, internal topics of one partition and one
 * replica, both listeners on `host` (its clients learn the address it advertises there: under
 * `cellctl up --hosts`, its cell host's, which every host reaches over the bridge).
 */
export function serverProperties(port: number, controllerPort: number, dataDir: string, host = '127.0.0.1'): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${host}:${controllerPort}`,
    `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://${host}:${port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

/** The JVM's arguments before the main class: a small heap (six engineers share two cores and their memory). */
export function jvmArgs(dist: KafkaDist, heap = '512m'): string[] {
  return [`-Xmx${heap}`, '-Xms64m', '-XX:+UseSerialGC', '-cp', dist.classpath];
}

const run = promisify(execFile);

/** Formats the storage that the `props` file's `log.dirs` names, under a new cluster id. */
export async function formatStorage(dist: KafkaDist, props: string, heap?: string): Promise<void> {
  await run(dist.java, [...jvmArgs(dist, heap), 'kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', props], {
    timeout: 120_000,
  });
}

/** True when the broker answers a metadata request and lists itself as a broker. */
export async function brokerAnswers(bootstrap: string): Promise<boolean> {
  // Loaded on first use, as the product's shared/kafka-library.ts does (infra imports no product part).
  const { Admin } = await import('@platformatic/kafka');
  const admin = new Admin({ clientId: 'cellsim-ready', bootstrapBrokers: [bootstrap], retries: 0, timeout: 2000 });
  try {
    const md = await admin.metadata({ topics: [] });
    return md.brokers.size > 0;
  } finally {
    await admin.close().catch(() => undefined);
  }
}
