/**
 * The markets' change log (docs/contracts.md §Consul keys): one Consul key,
 * `cellsim/changes/markets`, holding a sequence number and the IDs of the last {@link CHANGE_LOG_SIZE} markets written,
 * oldest first. Every product write of a market record updates it in the same transaction
 * (./writer.ts), so a follower (./follower.ts) learns which markets changed from one small
 * blocking read and reads only those: a move costs the same at 10 markets as at 100,000.
 *
 * The log is a hint, never the truth: the market keys are. A follower that finds a gap (more
 * changes than the log holds since its last read), a sequence that went backwards (Consul lost its
 * data) or an unreadable log reads the whole prefix instead, and it reads the whole prefix now and
 * then anyway, for writes made without the log (an operator's `consul kv put`).
 */
import { z } from 'zod';
import { MARKET_ID_RE } from '../market.js';

/** How many market IDs the log keeps: more changes than this between two reads of a follower is a gap. */
export const CHANGE_LOG_SIZE = 128;

/** The value of the change-log key. */
export const ChangeLogSchema = z
  .object({
    /** Sequence number of the last change (the first change is 1). */
    seq: z.number().int().nonnegative(),
    /** The last changed market IDs, oldest first; the last one is change `seq`. */
    markets: z.array(z.string().regex(MARKET_ID_RE)).max(CHANGE_LOG_SIZE),
  })
  .strict()
  .refine((v) => v.markets.length <= v.seq, { message: 'more markets than changes' });
export type ChangeLog = z.infer<typeof ChangeLogSchema>;

/** The log before any change. */
export const EMPTY_CHANGE_LOG: ChangeLog = { seq: 0, markets: [] };

/** The log after `markets` were written (in that order), keeping the last {@link CHANGE_LOG_SIZE}. */
export function appendChanges(log: ChangeLog, markets: readonly string[]): ChangeLog {
  const all = [...log.markets, ...markets];
  return { seq: log.seq + markets.length, markets: all.slice(Math.max(0, all.length - CHANGE_LOG_SIZE)) };
}

/** What a follower that last saw change `since` learns from `log`. */
export type ChangesSince =
  /** The markets changed since (distinct, in order of their last change; empty when none). */
  | { kind: 'changes'; markets: string[] }
  /** More changes than the log holds, or a log that went backwards: read the whole prefix. */
  | { kind: 'gap' | 'reset' };

/** The markets changed after change `since` (see {@link ChangesSince}). */
export function changesSince(log: ChangeLog, since: number): ChangesSince {
  if (log.seq < since) return { kind: 'reset' };
  const count = log.seq - since;
  if (count > log.markets.length) return { kind: 'gap' };
  const ids = log.markets.slice(log.markets.length - count);
  const last = new Map<string, number>();
  ids.forEach((id, i) => last.set(id, i));
  return { kind: 'changes', markets: ids.filter((id, i) => last.get(id) === i) };
}
