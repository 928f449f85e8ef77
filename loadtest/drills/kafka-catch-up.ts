/**
 * The kafka-broker-down drill's order check: every create the load was acknowledged for (201,
 * from vegeta's results) is read back from the cell that owns its market until it settles. An
 * order's `order.created` event reaches the cell's consumer only through the broker, and only the
 * consumer starts its delivery saga, so an order whose event was lost stays PENDING for ever:
 * DELIVERED (the saga's last step, cells/saga/orchestrator.ts) is the honest proof that the event
 * went through. CANCELLED is the load's own cancel (or a compensation), counted, not judged.
 * Each order must be DELIVERED within the catch-up bound ({@link CATCH_UP_MS} unless the drill's
 * `--catch-up` says otherwise) of the later of its acknowledgement and the broker's return. docs/drills.md §The kafka-broker-down drill.
 */
import type { RequestPoint } from '../points.js';
import type { CreatedOrder } from '../soak/orders.js';
import { NO_DATA, type Verdict } from '../verdicts.js';

/** How long after the broker is back (or the order was acknowledged, when later) it must be DELIVERED, by default. */
export const CATCH_UP_MS = 60_000;

/** One acknowledged order and what became of it. */
export interface Settled {
  id: string;
  market: string;
  ackedAt: number;
  /** The last status read (`missing` when the owner answered 404, `unread: ...` when no answer). */
  status: string;
  /** When it was first seen DELIVERED (epoch ms). */
  deliveredAt?: number;
}

/** The facts the check is judged on. */
export interface CatchUpFacts {
  cell: string;
  /** When the broker was killed, and when it was ready again (undefined: never, e.g. sabotaged). */
  downAt: number;
  backAt?: number;
  /** When the broker should have been back (the window's end). */
  healAt: number;
  /** The catch-up bound, ms (`--catch-up`); {@link CATCH_UP_MS} when absent. */
  catchUpMs?: number;
}

/** The instant `o` must be DELIVERED by. */
export const deadlineOf = (o: { ackedAt: number }, f: CatchUpFacts): number =>
  Math.max(o.ackedAt, f.backAt ?? f.healAt) + (f.catchUpMs ?? CATCH_UP_MS);

/** Reads an order's status (any replica of a data plane). */
export type ReadStatus = (o: { id: string; market: string }) => Promise<string>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls every order not yet DELIVERED or CANCELLED, `concurrency` at a time, until each settled
 * or passed its deadline. Duplicate acknowledgements (200: the same key again) count once.
 */
export async function followOrders(
  created: readonly CreatedOrder[],
  read: ReadStatus,
  f: CatchUpFacts,
  o: { pollMs?: number; concurrency?: number; now?: () => number } = {},
): Promise<Settled[]> {
  const now = o.now ?? Date.now;
  const byId = new Map<string, Settled>();
  for (const c of created) {
    if ((c.status === 200 || c.status === 201) && !byId.has(c.id))
      byId.set(c.id, { id: c.id, market: c.market, ackedAt: c.ackedAt, status: 'unread' });
  }
  const all = [...byId.values()];
  const open = () => all.filter((s) => s.deliveredAt === undefined && s.status !== 'CANCELLED' && now() <= deadlineOf(s, f));
  for (let pending = open(); pending.length; pending = open()) {
    const round = now();
    for (let i = 0; i < pending.length; i += o.concurrency ?? 8) {
      await Promise.all(
        pending.slice(i, i + (o.concurrency ?? 8)).map(async (s) => {
          s.status = await read(s).catch((err: Error) => `unread: ${err.message}`);
          if (s.status === 'DELIVERED') s.deliveredAt = now();
        }),
      );
    }
    await sleep(Math.max(0, round + (o.pollMs ?? 1000) - now()));
  }
  return all;
}

/** What the check found. */
export interface CatchUpCount {
  acknowledged: number;
  /** Acknowledged while the broker was down. */
  duringOutage: number;
  delivered: number;
  /** DELIVERED after its deadline (or never). */
  late: number;
  cancelled: number;
  /** The owner answered 404: the acknowledged order is gone. */
  lost: number;
  /** From the broker's return to the last order of the outage seen DELIVERED, ms. */
  catchUpMs?: number;
  examples: { late: string[]; lost: string[] };
}

/** Counts {@link followOrders}' result. */
export function countCatchUp(settled: readonly Settled[], f: CatchUpFacts): CatchUpCount {
  const out: CatchUpCount = {
    acknowledged: settled.length,
    duringOutage: 0,
    delivered: 0,
    late: 0,
    cancelled: 0,
    lost: 0,
    examples: { late: [], lost: [] },
  };
  const back = f.backAt ?? f.healAt;
  let lastOutage: number | undefined;
  for (const s of settled) {
    const during = s.ackedAt >= f.downAt && s.ackedAt <= back;
    if (during) out.duringOutage++;
    if (s.status === 'CANCELLED') out.cancelled++;
    else if (s.status === 'missing') {
      out.lost++;
      if (out.examples.lost.length < 5) out.examples.lost.push(`${s.id} (${s.market})`);
    } else if (s.deliveredAt !== undefined && s.deliveredAt <= deadlineOf(s, f)) {
      out.delivered++;
      if (during) lastOutage = Math.max(lastOutage ?? 0, s.deliveredAt);
    } else {
      out.late++;
      if (out.examples.late.length < 5) out.examples.late.push(`${s.id} (${s.market}, ${s.status})`);
    }
  }
  if (lastOutage !== undefined && f.backAt !== undefined) out.catchUpMs = Math.max(0, lastOutage - f.backAt);
  return out;
}

const eg = (xs: string[]) => (xs.length ? ` (e.g. ${xs.join(', ')})` : '');

/**
 * What was down, in the verdicts' words: the cell's broker (kafka-broker-down, the default) or its
 * delivery service (delivery-down).
 */
export interface Outage {
  /** `the broker` */
  the: string;
  /** `its broker` */
  its: string;
}
const BROKER: Outage = { the: 'the broker', its: 'its broker' };

/** The order verdicts. */
export function catchUpVerdicts(c: CatchUpCount, cell: string, what: Outage = BROKER, boundMs = CATCH_UP_MS): Verdict[] {
  const judged = c.acknowledged - c.cancelled;
  return [
    {
      name: `acknowledged orders DELIVERED after ${what.the} is back`,
      pass: c.duringOutage > 0 && judged > 0 && c.late === 0 && c.lost === 0,
      measured:
        judged === 0 || c.duringOutage === 0
          ? `${NO_DATA} (${c.acknowledged} acknowledged, ${c.duringOutage} while ${cell}'s ${what.its.replace(/^its /, '')} was down)`
          : `${c.delivered} of ${judged} DELIVERED in time, ${c.late} not${eg(c.examples.late)}; ${c.duringOutage} acknowledged while ${cell}'s ${what.its.replace(/^its /, '')} was down, the last of them DELIVERED ${c.catchUpMs === undefined ? 'never' : `${(c.catchUpMs / 1000).toFixed(1)} s`} after it was back; ${c.cancelled} cancelled (not judged)`,
      threshold: `every one within ${boundMs / 1000} s of ${what.the}'s return (or of its acknowledgement, when later)`,
    },
    {
      name: 'acknowledged orders lost',
      pass: c.acknowledged > 0 && c.lost === 0,
      measured: c.acknowledged === 0 ? NO_DATA : `${c.lost} of ${c.acknowledged}${eg(c.examples.lost)}`,
      threshold: '0',
    },
  ];
}

/**
 * Creates sent to `cell`'s markets (by the plan's owner) from the kill until the broker was back,
 * per plane: every one answered 2xx, and at least one (else the outage was never under load).
 */
export function acceptedWhileDown(
  requests: readonly Pick<RequestPoint, 'start' | 'end' | 'owner' | 'plane' | 'op' | 'failed'>[],
  outage: { cell: string; downAt: number; backAt: number },
  planes: readonly string[],
  what: Outage = BROKER,
): Verdict[] {
  return planes.map((plane) => {
    const creates = requests.filter(
      (r) => r.plane === plane && r.op === 'create' && r.owner === outage.cell && r.start >= outage.downAt && r.end <= outage.backAt,
    );
    const failed = creates.filter((r) => r.failed).length;
    return {
      name: `orders accepted in ${outage.cell} while ${what.its} was down (${plane})`,
      pass: creates.length > 0 && failed === 0,
      measured: creates.length
        ? `${creates.length - failed} of ${creates.length} creates answered 2xx`
        : `${NO_DATA} (no create to ${outage.cell} in the outage)`,
      threshold: 'every one, >= 1',
    };
  });
}
