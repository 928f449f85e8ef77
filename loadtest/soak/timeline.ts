/**
 * What the soak did and when, and how its requests are judged against it: which cell owned a
 * market when a request was sent (markets move many times in a soak, so the plan's owner is not
 * enough), and which failures of the crashed cell fall outside its crashes.
 */
import type { RequestPoint } from '../points.js';

/** One move as the soak played it (epoch ms). */
export interface PlayedMove {
  market: string;
  from: string;
  /** The cell that owns the market after the command (read from Consul): the target, or `from` after a rollback. */
  to: string;
  /** The target the move asked for. */
  target: string;
  start: number;
  end: number;
  exitCode: number;
  /** The last line of the command's output when it failed. */
  error?: string;
}

/** One crash as the soak played it (epoch ms). */
export interface PlayedCrash {
  cell: string;
  /** When the kill was sent. */
  start: number;
  /** When the supervisor had the cell ready again; null when it never came back. */
  ready: number | null;
  error?: string;
}

/**
 * The cells that may answer a request for `market` sent at `t`: the owner at that moment, or
 * either owner while a move of that market was running (its freeze and flip). `planOwner` owns
 * the market before its first move.
 */
export function ownersAt(planOwner: string, moves: readonly PlayedMove[], t: number): string[] {
  let owner = planOwner;
  for (const m of moves) {
    if (t < m.start) break;
    if (t < m.end) return owner === m.to ? [owner] : [owner, m.to];
    owner = m.to;
  }
  return [owner];
}

/**
 * The request points with `owner` set to the cell that owned the market when each was sent,
 * by the moves played (the analysis then judges wrong-cell answers and spill against it). Inside
 * a move, the answering cell when it is one of the two owners, else the owner before the move.
 */
export function reattribute(points: readonly RequestPoint[], moves: readonly PlayedMove[]): RequestPoint[] {
  const byMarket = new Map<string, PlayedMove[]>();
  for (const m of [...moves].sort((a, b) => a.start - b.start)) byMarket.set(m.market, [...(byMarket.get(m.market) ?? []), m]);
  return points.map((p) => {
    const mine = byMarket.get(p.market);
    if (!mine) return p;
    const may = ownersAt(p.owner, mine, p.start);
    const owner = may.includes(p.cell) ? p.cell : may[0]!;
    return owner === p.owner ? p : { ...p, owner };
  });
}

/**
 * Failures of `cell`'s markets (by owner at send time) that no crash explains: not in flight
 * between a kill and `graceMs` after that crash's ready. A crash that never came back explains
 * everything after it.
 */
export function failuresOutsideCrashes(
  points: readonly RequestPoint[],
  cell: string,
  crashes: readonly PlayedCrash[],
  graceMs: number,
): RequestPoint[] {
  return points.filter(
    (p) =>
      p.failed &&
      p.owner === cell &&
      !crashes.some((c) => c.cell === cell && p.end >= c.start && (c.ready === null || p.start <= c.ready + graceMs)),
  );
}

/**
 * ms from `crash`'s ready until the first successful request of `cell`'s markets (by owner at
 * send time) started after it: proof the cell serves again. Null when none came (or it never
 * came back).
 */
export function servedAgainMs(points: readonly RequestPoint[], cell: string, crash: PlayedCrash): number | null {
  if (crash.ready === null) return null;
  const ready = crash.ready;
  const first = points.find((p) => !p.failed && p.owner === cell && p.start >= ready);
  return first ? Math.round(first.start - ready) : null;
}
