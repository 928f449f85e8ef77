/**
 * A real Apache Kafka broker for tests and local cells: one combined broker/controller in KRaft
 * mode on free loopback ports, its storage formatted with kafka.tools.StorageTool in a fresh
 * temporary directory. Ready when it answers a metadata request naming itself; `stop()` kills
 * the JVM (its whole process group) and removes the data directory, whatever happened.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerAnswers, formatStorage, jvmArgs, serverProperties } from '../kafka-broker.js';
import { requireKafka } from '../kafka-dist.js';
import { freePorts } from '../ports.js';
import { startProcess, type ManagedProcess } from '../process.js';

export { newClusterId, serverProperties } from '../kafka-broker.js';

/** A running broker. */
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

/** Formats a data directory and starts a broker on it; throws (having cleaned up) when it does not become ready. */
export async function startKafka(opts: KafkaStartOptions = {}): Promise<KafkaBroker> {
  const dist = requireKafka();
  const dataDir = mkdtempSync(join(tmpdir(), 'cellsim-kafka-'));
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true });
  try {
    const [port, controllerPort] = (await freePorts(2)) as [number, number];
    const props = join(dataDir, 'server.properties');
    writeFileSync(props, serverProperties(port, controllerPort, join(dataDir, 'log')));
    await formatStorage(dist, props, opts.heap);
    const bootstrap = `127.0.0.1:${port}`;
    const proc = await startProcess({
      name: opts.name ?? 'kafka',
      command: dist.java,
      args: [...jvmArgs(dist, opts.heap), 'kafka.Kafka', props],
      ready: { check: () => brokerAnswers(bootstrap) },
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
