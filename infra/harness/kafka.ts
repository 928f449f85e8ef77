/**
 * A real Apache Kafka broker for tests and local cells: one combined broker/controller in KRaft
 * mode on free loopback ports, its storage formatted with kafka.tools.StorageTool in a fresh
 * temporary directory. Ready when it answers a metadata request naming itself; `stop()` kills
 * the JVM (its whole process group) and removes the data directory, whatever happened.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { requireKafka } from '../kafka-dist.js';
import { freePorts } from '../ports.js';
import { startProcess, type ManagedProcess } from '../process.js';

/** A running broker. */
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

export interface KafkaBroker {
  /** `127.0.0.1:<port>`, for a client's bootstrap list. */
  bootstrap: string;
  proc: ManagedProcess;
  dataDir: string;
  /** Stops the broker and removes its data directory. */
  stop(): Promise<void>;
}

/** Options of {@link startKafka}. */
export interface KafkaStartOptions {
  name?: string;
  /** JVM heap ceiling (default 512m: six engineers share two cores and their memory). */
  heap?: string;
  readyTimeoutMs?: number;
}

/** The broker's configuration: a single-node cluster, internal topics of one partition and one replica. */
export function serverProperties(port: number, controllerPort: number, dataDir: string): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
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

const run = promisify(execFile);

/** Formats a data directory and starts a broker on it; throws (having cleaned up) when it does not become ready. */
export async function startKafka(opts: KafkaStartOptions = {}): Promise<KafkaBroker> {
  const dist = requireKafka();
  const dataDir = mkdtempSync(join(tmpdir(), 'cellsim-kafka-'));
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true });
  try {
    const [port, controllerPort] = (await freePorts(2)) as [number, number];
    const props = join(dataDir, 'server.properties');
    writeFileSync(props, serverProperties(port, controllerPort, join(dataDir, 'log')));
    const jvm = [`-Xmx${opts.heap ?? '512m'}`, '-Xms64m', '-XX:+UseSerialGC', '-cp', dist.classpath];
    await run(dist.java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', props], { timeout: 120_000 });
    const bootstrap = `127.0.0.1:${port}`;
    const proc = await startProcess({
      name: opts.name ?? 'kafka',
      command: dist.java,
      args: [...jvm, 'kafka.Kafka', props],
      ready: { check: () => answers(bootstrap) },
      readyTimeoutMs: opts.readyTimeoutMs ?? 120_000,
    });
    return {
      bootstrap,
      proc,
      dataDir,
      stop: async () => {
        try {
          await proc.stop(10_000);
        } finally {
          cleanup();
        }
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** True when the broker answers a metadata request and lists itself as a broker. */
async function answers(bootstrap: string): Promise<boolean> {
  const admin = new Admin({ clientId: 'cellsim-ready', bootstrapBrokers: [bootstrap], retries: 0, timeout: 2000 });
  try {
    const md = await admin.metadata({ topics: [] });
    return md.brokers.size > 0;
  } finally {
    await admin.close().catch(() => undefined);
  }
}
