/**
 * `cellctl cells scale <cell> --delivery <n>` on the supervisor's side (control channel `PUT
 * /cells/:cell/delivery`): starts the delivery children a cell lacks (`<cell>.delivery-k` for k up
 * to n, each on a free port, members of the cell's consumer group once ready) or stops those past
 * n (SIGTERM: each leaves the group, its partitions move to the others). The count is the
 * supervisor's children, so a restarted child comes back as itself and the count stays; it is
 * kept in `<data>/delivery/<cell>/instances.json` for the next `cellctl up`
 * (docs/kafka.md §Scaling the delivery service).
 */
import { HttpError } from '../shared/errors.js';
import { MAX_DELIVERY, MIN_DELIVERY, deliveryIndex, scalePlan } from '../control-plane/admin/delivery-scale.js';
import { freePorts } from '../infra/ports.js';
import type { Child, ChildSpec } from './child.js';
import type { TopologyConfig } from './config.js';
import { deliveryChildren, deliverySpec, saveDeliveryCount } from './delivery.js';

/** What scaling needs of the supervisor. */
export interface DeliveryHost {
  readonly cfg: TopologyConfig;
  readonly children: ReadonlyMap<string, Child>;
  /** Adds a child (not started). */
  add(spec: ChildSpec): Child;
  /** Stops and forgets a child. */
  drop(name: string): Promise<void>;
}

/** What a scale did. */
export interface Scaled {
  cell: string;
  from: number;
  to: number;
  started: string[];
  stopped: string[];
}

/**
 * Brings `cell` to `n` delivery instances (`409 conflict` when the cell is not split: a `--log
 * sqlite` topology, or a cell without delivery children). New instances run the version the
 * others run; resolves once they are ready (a failed start stops and forgets them, and throws).
 */
export async function scaleDelivery(host: DeliveryHost, cell: string, n: number): Promise<Scaled> {
  if (!Number.isInteger(n) || n < MIN_DELIVERY || n > MAX_DELIVERY)
    throw new HttpError('invalid_request', `a delivery service runs ${MIN_DELIVERY} to ${MAX_DELIVERY} instances, not ${n}`);
  const kids = deliveryChildren(host.children, cell);
  if (host.cfg.log !== 'kafka' || kids.length === 0)
    throw new HttpError(
      'conflict',
      `${cell} is not split into order and delivery services (${host.cfg.log === 'kafka' ? 'it runs as one process: not in --split-cells' : 'this topology runs --log sqlite'}): there is no delivery service to scale`,
    );
  const ports = (host.cfg.ports.delivery ??= {});
  const plan = (ports[cell] ??= []);
  const from = kids.length;
  const { start, stop } = scalePlan(
    cell,
    kids.map((k) => k.spec),
    n,
  );
  for (const name of stop) await host.drop(name);
  plan.length = Math.min(plan.length, n);
  const missing = start.map(deliveryIndex);
  const version = kids[0]!.spec.version ?? host.cfg.initialVersion;
  const fresh = await freePorts(missing.filter((i) => plan[i - 1] === undefined).length);
  for (const i of missing) if (plan[i - 1] === undefined) plan[i - 1] = fresh.shift()!;
  const specs = missing.map((i) => deliverySpec(host.cfg, cell, version, i)!);
  try {
    await Promise.all(specs.map((s) => host.add(s).start(60_000)));
  } catch (err) {
    for (const s of specs) await host.drop(s.name);
    plan.length = Math.min(plan.length, from);
    throw err;
  }
  // Kept for the next `cellctl up` on this data directory (topology/delivery.ts deliveryCount).
  saveDeliveryCount(host.cfg, cell, n);
  return { cell, from, to: n, started: start, stopped: stop };
}
