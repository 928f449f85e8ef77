/**
 * The delivery dependency: a simulated courier-assignment service inside the cell. It answers
 * after a short delay with a courier, or "no courier" (address containing `no-courier`, or an
 * active `no-courier` fault); faults with `route: "delivery"` make it slow, hang or fail.
 */
import { CellsimError } from '../../shared/errors.js';
import { fnv1a } from '../log/types.js';
import { faultDelay, waitUntilOver, type FaultRegistry } from '../faults/registry.js';

/** The answer of a courier assignment. */
export type AssignOutcome = { ok: true; courier: string } | { ok: false; reason: string };

/** An error of the courier service (a failed call, not a "no courier" answer; code `courier_unavailable`). */
export class CourierUnavailableError extends CellsimError {
  constructor(message: string) {
    super('courier_unavailable', message);
    this.name = 'CourierUnavailableError';
  }
}

/** Addresses containing this marker never get a courier (to exercise the compensation path). */
export const NO_COURIER_MARKER = 'no-courier';

/** The simulated courier service. Assignment is idempotent: the same order always gets the same courier. */
export class CourierService {
  constructor(
    private readonly faults: FaultRegistry,
    private readonly delayMs: number,
  ) {}

  /** Assigns a courier to an order; honours `signal` (the breaker's timeout). */
  async assign(order: { id: string; address: string }, signal?: AbortSignal): Promise<AssignOutcome> {
    await sleep(this.delayMs, signal);
    for (const f of this.faults.forDelivery()) {
      if (f.kind === 'latency') await faultDelay(f);
      else if (f.kind === 'hang') await waitUntilOver(this.faults, f.id);
      else if (f.kind === 'errors' && Math.random() < (f.errorRate ?? 1))
        throw new CourierUnavailableError('courier service failed (injected)');
      else if (f.kind === 'no-courier') return { ok: false, reason: 'no courier available' };
    }
    signal?.throwIfAborted();
    if (order.address.toLowerCase().includes(NO_COURIER_MARKER)) return { ok: false, reason: 'no courier available' };
    return { ok: true, courier: `courier-${fnv1a(order.id) % 1000}` };
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new CourierUnavailableError('courier call aborted'));
    });
  });
}
