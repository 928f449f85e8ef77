/**
 * `cellctl cells scale <cell> --delivery <n>` (`POST /admin/cells/:cell/scale`): a split cell's
 * delivery service brought to n instances by the `cellctl up` supervisor, while traffic flows
 * (docs/kafka.md §Scaling the delivery service). The plan is read from the supervisor's children;
 * nothing is written in Consul: the instances register themselves as `cellsim-delivery`.
 */
import { HttpError } from '../../shared/errors.js';
import type { ChildStatus, DeliveryProcesses, DeliveryScaled } from '../rollout/supervisor-client.js';
import { deliveryChildName, deliveryIndex } from '../rollout/delivery-names.js';

/** The least delivery instances of a split cell (issue 19: a consumer group of at least 2). */
export const MIN_DELIVERY = 2;
/** The most: a cell's orders topic has 8 partitions (its default), so a ninth member would hold none. */
export const MAX_DELIVERY = 8;

/** What a scale would do. */
export interface ScalePlan {
  cell: string;
  /** Delivery instances now and after. */
  from: number;
  to: number;
  /** Children started (`<cell>.delivery-k`, k ≤ n missing) and stopped (k > n). */
  start: string[];
  stop: string[];
}

export { deliveryChildName, deliveryIndex };

/** The plan of bringing `cell` from its delivery children `kids` to `n`: instances 1..n, started where missing, stopped past n. */
export function scalePlan(cell: string, kids: readonly Pick<ChildStatus, 'name'>[], n: number): ScalePlan {
  const have = new Set(kids.map((k) => deliveryIndex(k.name)));
  const start = Array.from({ length: n }, (_, i) => i + 1)
    .filter((i) => !have.has(i))
    .map((i) => deliveryChildName(cell, i));
  const stop = kids
    .filter((k) => deliveryIndex(k.name) > n)
    .map((k) => k.name)
    .sort((a, b) => deliveryIndex(a) - deliveryIndex(b));
  return { cell, from: kids.length, to: n, start, stop };
}

/** Scales delivery services through the supervisor. */
export class DeliveryScaling {
  constructor(private readonly procs: () => DeliveryProcesses | undefined) {}

  private supervisor(cell: string): DeliveryProcesses {
    const p = this.procs();
    if (!p)
      throw new HttpError(
        'conflict',
        `no cellctl up supervisor runs ${cell}'s processes: start or stop 'cellctl cell --role delivery --id ${cell}' processes yourself`,
      );
    return p;
  }

  /** The plan: `409 conflict` without a supervisor, or when the cell is not split (no delivery children: `--log sqlite`). */
  async plan(cell: string, n: number): Promise<ScalePlan> {
    const kids = (await this.supervisor(cell).children()).filter((k) => k.kind === 'delivery' && k.cell === cell);
    if (!kids.length)
      throw new HttpError(
        'conflict',
        `${cell} is not split into order and delivery services (it runs as one process: --log sqlite, or left out of --split-cells): there is no delivery service to scale`,
      );
    return scalePlan(cell, kids, n);
  }

  /** Scales; the supervisor checks again (a refusal of its own comes back as the same error). */
  async apply(cell: string, n: number): Promise<DeliveryScaled> {
    return this.supervisor(cell).scaleDelivery(cell, n);
  }
}
