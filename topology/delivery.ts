/**
 * `cellctl up --log kafka`: each cell split into its order service (the cell child, `--role
 * order`) and two instances of its delivery service (`<cell>.delivery-1`, `<cell>.delivery-2`,
 * kind `delivery`, `--role delivery`): members of the cell's `delivery` consumer group on its
 * broker, sharing one database under `<data>/delivery/<cell>/`
 * (docs/kafka.md §Order and delivery services). They start with the cells, after the brokers, and stop after the cells.
 * `cellctl cells scale` changes a cell's count while it runs (topology/delivery-scale.ts).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { MAX_DELIVERY, MIN_DELIVERY, deliveryChildName, deliveryIndex } from '../control-plane/admin/delivery-scale.js';
import { freePorts } from '../infra/ports.js';
import type { Child, ChildSpec } from './child.js';
import { isSplit, type TopologyConfig } from './config.js';
import { consulTokenEnv } from './acl.js';
import { brokerAddress } from './kafka.js';
import { inPlace, placeFields, placeOf } from './hosts/place.js';
import { probe, schemeOf, tlsArgsOf } from './tls.js';
import { consulUrl } from './wiring.js';

/** Delivery instances per cell at start: at least two, so one can die while the other takes its partitions. */
export const DELIVERY_INSTANCES = 2;

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));

/** The delivery service's database directory of a cell. */
export function deliveryDir(cfg: TopologyConfig, cell: string): string {
  return join(cfg.dataDir, 'delivery', cell);
}

/** `<data>/delivery/<cell>/instances.json`: the count `cellctl cells scale` set, kept for the next `cellctl up`. */
const DeliveryStateSchema = z.object({ instances: z.number().int().min(MIN_DELIVERY).max(MAX_DELIVERY) }).strict();

function stateFile(cfg: TopologyConfig, cell: string): string {
  return join(deliveryDir(cfg, cell), 'instances.json');
}

/**
 * The delivery instances a cell starts with: the count last set by `cellctl cells scale` on this
 * data directory, else {@link DELIVERY_INSTANCES}. A file that does not parse is reported through
 * `warn` and ignored.
 */
export function deliveryCount(cfg: TopologyConfig, cell: string, warn: (line: string) => void = () => undefined): number {
  let text: string;
  try {
    text = readFileSync(stateFile(cfg, cell), 'utf8');
  } catch {
    return DELIVERY_INSTANCES;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const parsed = DeliveryStateSchema.safeParse(raw);
  if (parsed.success) return parsed.data.instances;
  warn(
    `${stateFile(cfg, cell)} is not {"instances": ${MIN_DELIVERY}..${MAX_DELIVERY}}: ${cell} starts ${DELIVERY_INSTANCES} delivery instances`,
  );
  return DELIVERY_INSTANCES;
}

/** Keeps a cell's delivery count for the next `cellctl up` (written whole: a temporary file renamed). */
export function saveDeliveryCount(cfg: TopologyConfig, cell: string, instances: number): void {
  const file = stateFile(cfg, cell);
  mkdirSync(deliveryDir(cfg, cell), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(DeliveryStateSchema.parse({ instances }))}\n`);
  renameSync(`${file}.tmp`, file);
}

/**
 * The ports of a split cell's delivery instances ({@link deliveryCount} of them), into
 * `cfg.ports.delivery`: 9300 + 2i and 9301 + 2i for `cell-i` (i < 50, shifted by `--base-port`)
 * and free ports for any more, or free ports under `--any-ports` and for added cells.
 */
export async function planDeliveryPorts(cfg: TopologyConfig, cells: string[], warn?: (line: string) => void): Promise<void> {
  if (cfg.log !== 'kafka') return;
  const plan = (cfg.ports.delivery ??= {});
  for (const cell of cells) {
    if (plan[cell] || !isSplit(cfg, cell)) continue;
    const count = deliveryCount(cfg, cell, warn);
    const i = Number(cell.replace(/^cell-/, ''));
    const fixed =
      cfg.ports.cellBase > 0 && Number.isInteger(i) && i < 50
        ? Array.from({ length: DELIVERY_INSTANCES }, (_, n) => cfg.ports.cellBase + 200 + 2 * i + n)
        : [];
    plan[cell] = [...fixed, ...(await freePorts(count - fixed.length))].slice(0, count);
  }
}

/** The delivery children of a cell (none unless it is split: `--log kafka`, `--split-cells`). */
export function deliverySpecs(cfg: TopologyConfig, cell: string, version: string): ChildSpec[] {
  const ports = cfg.ports.delivery?.[cell] ?? [];
  return ports.flatMap((_, k) => deliverySpec(cfg, cell, version, k + 1) ?? []);
}

/**
 * The child of a cell's delivery instance `n` (1-based), on its planned port, running `version`
 * (with its `defect`, a delivery rollout's bad version); undefined without a broker or a port.
 * Under `--hosts` it runs on its cell's host, beside the order service and the broker.
 */
export function deliverySpec(cfg: TopologyConfig, cell: string, version: string, n: number, defect?: unknown): ChildSpec | undefined {
  const broker = brokerAddress(cfg, cell);
  const port = cfg.ports.delivery?.[cell]?.[n - 1];
  if (!broker || port === undefined) return undefined;
  const place = placeOf(cfg, cell);
  const url = `${schemeOf(cfg)}://${place.ip}:${port}`;
  const args = [CELLCTL, 'cell', '--role', 'delivery', '--id', cell, '--port', String(port), '--data', deliveryDir(cfg, cell)];
  if (place.ns) args.push('--host', place.ip);
  args.push('--consul', consulUrl(cfg, cell), '--version', version, '--prefix', cfg.prefix);
  args.push('--cell-admin-token-file', cfg.tokenFiles['cell-admin'], '--log', 'kafka', '--kafka', broker, ...tlsArgsOf(cfg, cell));
  // A migration target's imported sagas wait as long as the order service's (topology/wiring.ts).
  args.push('--import-hold', '10s');
  // The instances share one database: instance 1 alone keeps its continuous copy, beside the order
  // service's, for `cellctl evacuate --from-backup` (docs/kafka.md §Recovering a split cell from its backups).
  if (n === 1) args.push('--backup-dir', join(cfg.dataDir, 'backups', cell, 'delivery'));
  if (defect !== undefined) args.push('--defect', JSON.stringify(defect));
  return {
    name: deliveryChildName(cell, n),
    kind: 'delivery' as const,
    role: 'delivery' as const,
    ...inPlace(place, { command: process.execPath, args }),
    ...placeFields(place),
    env: { CELLSIM_LOG_LEVEL: cfg.logLevel, ...consulTokenEnv(cfg, 'cell') },
    url,
    port,
    cell,
    version,
    ...(defect !== undefined ? { defect } : {}),
    ready: async () => (await get(cfg, `${url}/readyz`, 1000)).ok,
    alive: async () => (await get(cfg, `${url}/healthz`, 2000), true),
  };
}

/** Forgets a retired cell's delivery ports and database (its children are stopped by the caller). */
export function forgetDelivery(cfg: TopologyConfig, cell: string): void {
  if (cfg.ports.delivery) delete cfg.ports.delivery[cell];
  rmSync(deliveryDir(cfg, cell), { recursive: true, force: true });
}

/** What topology.json shows of a cell's delivery instances. */
export function deliveryView(children: ReadonlyMap<string, Child>, cell: string): { delivery?: Record<string, unknown>[] } {
  const kids = deliveryChildren(children, cell);
  if (!kids.length) return {};
  return { delivery: kids.map((k) => ({ name: k.spec.name, url: k.spec.url, pid: k.pid, wrapperPid: k.wrapperPid, state: k.state })) };
}

/** A cell's delivery children, by instance number (`cell-1.delivery-2` before `cell-1.delivery-10`). */
export function deliveryChildren(children: ReadonlyMap<string, Child>, cell: string): Child[] {
  const n = (k: Child) => deliveryIndex(k.spec.name);
  return [...children.values()].filter((k) => k.spec.kind === 'delivery' && k.spec.cell === cell).sort((a, b) => n(a) - n(b));
}

async function get(cfg: TopologyConfig, url: string, timeoutMs: number): Promise<{ ok: boolean }> {
  if (cfg.tls) return probe(cfg, url, timeoutMs);
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await res.arrayBuffer();
  return { ok: res.ok };
}
