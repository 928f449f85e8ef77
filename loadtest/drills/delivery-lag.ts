/**
 * The delivery backlog of a split cell (`cellctl up --log kafka`), read from its broker: records
 * of `cellsim.<cell>.orders` not yet committed by the consumer group `delivery` (the end offset
 * minus the group's committed offset, summed over the partitions). The delivery-down drill
 * samples it at the end of its window (the backlog that built up) and until it drains after.
 * docs/drills.md §The delivery-down drill.
 */
import { kafkaLibrary } from '../../shared/kafka-library.js';
import type { Verdict } from '../verdicts.js';
import { NO_DATA } from '../verdicts.js';

/** A backlog at most this large counts as drained: a commit tick's worth of records under the drill's load. */
export const DRAINED_MAX = 5;

/** The backlog of group `delivery` on `cell`'s orders topic, through the broker at `bootstrap`. */
export async function deliveryBacklog(bootstrap: string, cell: string): Promise<number> {
  const topic = `cellsim.${cell}.orders`;
  const { Admin } = await kafkaLibrary();
  const admin = new Admin({ clientId: 'cellsim-drill-delivery-lag', bootstrapBrokers: [bootstrap] });
  try {
    const md = await admin.metadata({ topics: [topic] });
    const count = md.topics.get(topic)?.partitionsCount ?? 0;
    const partitions = Array.from({ length: count }, (_, i) => i);
    const [ends] = await admin.listOffsets({
      topics: [{ name: topic, partitions: partitions.map((p) => ({ partitionIndex: p, timestamp: -1n })) }],
    });
    const [group] = await admin.listConsumerGroupOffsets({
      groups: [{ groupId: 'delivery', topics: [{ name: topic, partitionIndexes: partitions }] }],
    });
    const committed = group?.topics.find((t) => t.name === topic)?.partitions ?? [];
    let lag = 0;
    for (const p of ends?.partitions ?? []) {
      const c = committed.find((x) => x.partitionIndex === p.partitionIndex)?.committedOffset ?? -1n;
      lag += Number(p.offset) - Math.max(0, Number(c));
    }
    return lag;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** Samples of the backlog: at the window's end, and after the delivery service was back. */
export interface BacklogFacts {
  atHeal?: number;
  /** When it was first seen at most {@link DRAINED_MAX} after the delivery service was back (epoch ms). */
  drainedAt?: number;
  backAt?: number;
  /** The last sample read, and the last read error. */
  last?: number;
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the backlog every 500 ms until it is at most {@link DRAINED_MAX} or `deadline` passes. */
export async function followDrain(read: () => Promise<number>, facts: BacklogFacts, deadline: number): Promise<void> {
  while (Date.now() <= deadline) {
    try {
      facts.last = await read();
      if (facts.backAt !== undefined && facts.last <= DRAINED_MAX) {
        facts.drainedAt = Date.now();
        return;
      }
    } catch (err) {
      facts.error = (err as Error).message;
    }
    await sleep(500);
  }
}

/** The backlog verdict: it built up in the window, and drained within `boundMs` of the delivery service's return. */
export function drainVerdict(f: BacklogFacts, cell: string, boundMs: number): Verdict {
  const name = `delivery backlog of ${cell} drained after the window`;
  const threshold = `> 0 at the window's end, <= ${DRAINED_MAX} within ${boundMs / 1000} s of the delivery service's return`;
  if (f.atHeal === undefined)
    return { name, pass: false, measured: `${NO_DATA} (backlog unread${f.error ? `: ${f.error}` : ''})`, threshold };
  const drained =
    f.drainedAt !== undefined && f.backAt !== undefined
      ? `drained to ${f.last} ${((f.drainedAt - f.backAt) / 1000).toFixed(1)} s after it was back`
      : `not drained (last ${f.last ?? 'unread'}${f.backAt === undefined ? ', the delivery service never back' : ''})`;
  return {
    name,
    pass: f.atHeal > 0 && f.drainedAt !== undefined && f.backAt !== undefined && f.drainedAt - f.backAt <= boundMs,
    measured: `${f.atHeal} records at the window's end; ${drained}`,
    threshold,
  };
}
