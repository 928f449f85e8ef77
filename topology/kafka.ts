/**
 * `cellctl up --log kafka`: one Apache Kafka broker per cell (cells share nothing), each a
 * combined KRaft broker/controller supervised like every other child, its storage under
 * `<data>/kafka/<cell>/` (formatted once, kept across runs like the cell's database), ready
 * before its cell starts and stopped after it (docs/kafka.md §Brokers under cellctl up). Under
 * `--hosts` each broker runs on its cell's host, inside the host's network namespace, listening
 * and advertising the host's address (docs/multi-host.md §Kafka across hosts).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brokerAnswers, formatStorage, jvmArgs, serverProperties } from '../infra/kafka-broker.js';
import { requireKafka } from '../infra/kafka-dist.js';
import { freePorts } from '../infra/ports.js';
import { tcpConnect } from '../shared/tcp-connect.js';
import type { Child, ChildSpec } from './child.js';
import type { TopologyConfig } from './config.js';
import { inPlace, placeFields, placeOf } from './hosts/place.js';

/** A broker's heap: one JVM per cell on a shared machine. */
const HEAP = '384m';

/** The child name of a cell's broker: `kafka.cell-1` (not `cell-1.*`: killing a cell leaves its log up). */
export function brokerChildName(cell: string): string {
  return `kafka.${cell}`;
}

/** Where a cell's broker keeps its configuration and its log. */
export function brokerDir(cfg: TopologyConfig, cell: string): string {
  return join(cfg.dataDir, 'kafka', cell);
}

/**
 * The ports of each cell's broker (client, controller), into `cfg.ports.kafka`: beside the cells'
 * (client 9200 + i, controller 9250 + i, shifted by `--base-port`), or free ports under
 * `--any-ports` and for cells added while the topology runs.
 */
export async function planBrokerPorts(cfg: TopologyConfig, cells: string[]): Promise<void> {
  const plan = (cfg.ports.kafka ??= {});
  const fixed = cfg.ports.cellBase > 0;
  for (const cell of cells) {
    if (plan[cell]) continue;
    const i = Number(cell.replace(/^cell-/, ''));
    if (fixed && Number.isInteger(i) && i < 50)
      plan[cell] = { client: cfg.ports.cellBase + 100 + i, controller: cfg.ports.cellBase + 150 + i };
    else {
      const [client, controller] = (await freePorts(2)) as [number, number];
      plan[cell] = { client, controller };
    }
  }
}

/**
 * The bootstrap address of a cell's broker (its cell host's address under `--hosts`, else
 * 127.0.0.1), or undefined when the topology runs no broker for it.
 */
export function brokerAddress(cfg: TopologyConfig, cell: string): string | undefined {
  const p = cfg.log === 'kafka' ? cfg.ports.kafka?.[cell] : undefined;
  return p ? `${placeOf(cfg, cell).ip}:${p.client}` : undefined;
}

/**
 * The child of a cell's broker. Writes its `server.properties` (ports and, under `--hosts`, the
 * host's address may differ from the last run) and formats its storage when it has none yet, so
 * a restart keeps the cell's topics. Under `--hosts` it runs in its cell host's namespace (as the
 * cell does, through `ip netns exec`), and the supervisor probes it at the host's address.
 */
export async function brokerSpec(cfg: TopologyConfig, cell: string): Promise<ChildSpec> {
  const ports = cfg.ports.kafka?.[cell];
  if (!ports) throw new Error(`no broker ports planned for ${cell}`);
  const dist = requireKafka();
  const dir = brokerDir(cfg, cell);
  const logDir = join(dir, 'log');
  const props = join(dir, 'server.properties');
  mkdirSync(dir, { recursive: true });
  const place = placeOf(cfg, cell);
  writeFileSync(props, serverProperties(ports.client, ports.controller, logDir, place.ip));
  if (!existsSync(join(logDir, 'meta.properties'))) await formatStorage(dist, props, HEAP);
  const bootstrap = `${place.ip}:${ports.client}`;
  return {
    name: brokerChildName(cell),
    kind: 'kafka',
    ...inPlace(place, { command: dist.java, args: [...jvmArgs(dist, HEAP), 'kafka.Kafka', props] }),
    url: bootstrap,
    port: ports.client,
    binds: [ports.client, ports.controller],
    ...placeFields(place),
    ready: () => brokerAnswers(bootstrap),
    alive: () => accepts(place.ip, ports.client),
  };
}

/** Formats (when needed) and starts the brokers of `cells` together; resolves once all are ready. */
export async function startBrokers(
  cfg: TopologyConfig,
  cells: string[],
  add: (spec: ChildSpec) => Child,
  progress: (line: string) => void,
): Promise<void> {
  if (cfg.log !== 'kafka' || cells.length === 0) return;
  await planBrokerPorts(cfg, cells);
  progress(`starting kafka brokers for ${cells.join(', ')} (KRaft, one per cell, data under ${join(cfg.dataDir, 'kafka')})`);
  const specs = await Promise.all(cells.map((c) => brokerSpec(cfg, c)));
  // A JVM on a shared 2-core machine: formatting and start took 20-40 s here under load.
  await Promise.all(specs.map((s) => add(s).start(150_000)));
}

/** Forgets a retired cell's broker: its ports and its storage (the child is stopped by the caller). */
export function forgetBroker(cfg: TopologyConfig, cell: string): void {
  if (cfg.ports.kafka) delete cfg.ports.kafka[cell];
  rmSync(brokerDir(cfg, cell), { recursive: true, force: true });
}

/** What topology.json and `cellctl up`'s table show of a cell's broker. */
export function brokerView(children: ReadonlyMap<string, Child>, cell: string): { kafka?: Record<string, unknown> } {
  const k = children.get(brokerChildName(cell));
  if (!k) return {};
  return { kafka: { name: k.spec.name, bootstrap: k.spec.url, pid: k.pid, wrapperPid: k.wrapperPid, state: k.state } };
}

/** Liveness: the broker's listener accepts a TCP connection within 2 s. */
async function accepts(ip: string, port: number): Promise<boolean> {
  return (await tcpConnect(ip, port, 2000)).accepted;
}
