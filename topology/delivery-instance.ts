/**
 * One delivery instance of a split cell started (or replaced) and stopped on its own: control
 * channel `PUT` and `DELETE /cells/:cell/delivery/:n`, the steps of a delivery rollout
 * (control-plane/rollout/delivery-runner.ts), which starts each new instance before it stops an
 * old one (docs/kafka.md §Rolling out the delivery service). The cell's count is left to
 * `cellctl cells scale` (topology/delivery-scale.ts).
 */
import { HttpError } from '../shared/errors.js';
import { MAX_DELIVERY, MIN_DELIVERY, deliveryChildName, deliveryIndex } from '../control-plane/admin/delivery-scale.js';
import { freePorts } from '../infra/ports.js';
import type { Child } from './child.js';
import { deliveryChildren, deliverySpec } from './delivery.js';
import type { DeliveryHost } from './delivery-scale.js';

function splitChildren(host: DeliveryHost, cell: string): Child[] {
  const kids = deliveryChildren(host.children, cell);
  if (host.cfg.log !== 'kafka' || kids.length === 0)
    throw new HttpError(
      'conflict',
      `${cell} is not split into order and delivery services (${host.cfg.log === 'kafka' ? 'it runs as one process: not in --split-cells' : 'this topology runs --log sqlite'}): there is no delivery service to roll out`,
    );
  return kids;
}

/**
 * Starts `<cell>.delivery-<n>` running `version` (and `defect`), replacing the child of that name
 * if there is one; resolves once it is ready (listening, a member of the cell's consumer group). `n`
 * may be one past the highest instance (the spare a rolling replacement starts first), on a free
 * port; a failed start stops and forgets the new child, and throws.
 */
export async function startDeliveryInstance(
  host: DeliveryHost,
  cell: string,
  n: number,
  version: string,
  defect?: unknown,
): Promise<Child> {
  const kids = splitChildren(host, cell);
  const top = Math.max(...kids.map((k) => deliveryIndex(k.spec.name)));
  if (!Number.isInteger(n) || n < 1 || n > Math.min(top + 1, MAX_DELIVERY + 1))
    throw new HttpError('invalid_request', `${cell} has delivery instances 1 to ${top}: instance ${n} is not one of them or the next`);
  const plan = ((host.cfg.ports.delivery ??= {})[cell] ??= []);
  if (plan[n - 1] === undefined) plan[n - 1] = (await freePorts(1))[0]!;
  const name = deliveryChildName(cell, n);
  await host.drop(name);
  const child = host.add(deliverySpec(host.cfg, cell, version, n, defect)!);
  try {
    await child.start(60_000);
  } catch (err) {
    await host.drop(name);
    throw err;
  }
  return child;
}

/**
 * Stops and forgets `<cell>.delivery-<n>` (SIGTERM: it leaves the consumer group); a no-op when it
 * does not run. Refused (`409 conflict`) when it would leave the cell fewer than
 * {@link MIN_DELIVERY} instances. The port of the highest instance is forgotten with it.
 */
export async function stopDeliveryInstance(host: DeliveryHost, cell: string, n: number): Promise<void> {
  const kids = splitChildren(host, cell);
  const name = deliveryChildName(cell, n);
  if (!kids.some((k) => k.spec.name === name)) return;
  if (kids.length <= MIN_DELIVERY)
    throw new HttpError('conflict', `stopping ${name} would leave ${cell} fewer than ${MIN_DELIVERY} delivery instances`);
  await host.drop(name);
  const top = Math.max(...deliveryChildren(host.children, cell).map((k) => deliveryIndex(k.spec.name)));
  const plan = host.cfg.ports.delivery?.[cell];
  if (plan && n > top) plan.length = Math.min(plan.length, top);
}
