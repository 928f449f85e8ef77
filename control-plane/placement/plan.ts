/**
 * Placement by measured load (docs/operators.md §Placement by load): pure arithmetic over the cells'
 * records and their measured load. A cell's `capacity` is both its room in markets (a hard cap:
 * the small canary never holds more than its few) and its share of the traffic: a cell's
 * utilization is its requests per second per unit of capacity, and a market goes where the
 * utilization after the move is lowest. The canary is a target only when no other cell has room.
 */
import type { CellRecord } from '../../shared/kv.js';

/** One market's measured load. */
export interface MarketLoad {
  market: string;
  cell: string;
  /** Requests per second attributed to the market (its share of its cell's requests). */
  rps: number;
}

/** What placement needs of a cell. */
export type PlacementCell = Pick<CellRecord, 'id' | 'state' | 'canary' | 'capacity'>;

/** One planned move with the expected utilization of both cells after it. */
export interface Move {
  market: string;
  from: string;
  to: string;
  rps: number;
}

/** The running tally of a plan: markets and rps per cell. */
export class Tally {
  readonly markets = new Map<string, number>();
  readonly rps = new Map<string, number>();

  constructor(
    readonly cells: PlacementCell[],
    loads: MarketLoad[],
  ) {
    for (const m of loads) this.add(m.cell, m.rps, 1);
  }

  add(cell: string, rps: number, markets: number): void {
    this.markets.set(cell, (this.markets.get(cell) ?? 0) + markets);
    this.rps.set(cell, (this.rps.get(cell) ?? 0) + rps);
  }

  /** Requests per second per unit of capacity (Infinity for a cell of capacity 0). */
  utilization(cell: PlacementCell, extraRps = 0): number {
    return cell.capacity > 0 ? ((this.rps.get(cell.id) ?? 0) + extraRps) / cell.capacity : Infinity;
  }

  room(cell: PlacementCell): number {
    return cell.capacity - (this.markets.get(cell.id) ?? 0);
  }

  /** Moves a market's load from `from` to `to` in the tally. */
  move(m: { rps: number }, from: string, to: string): void {
    this.add(from, -m.rps, -1);
    this.add(to, m.rps, 1);
  }
}

/**
 * The best cell for a market of `rps` (never one of `exclude`): an active cell with room whose
 * utilization after taking it is lowest, then the one with more room, then by id; the canary only
 * when no other cell has room (and never with `canary: false`). Undefined when no cell has room.
 */
export function pickTarget(t: Tally, rps: number, exclude: string[] = [], canary = true): PlacementCell | undefined {
  const open = t.cells.filter((c) => c.state === 'active' && !exclude.includes(c.id) && t.room(c) > 0 && (canary || !c.canary));
  const pool = open.some((c) => !c.canary) ? open.filter((c) => !c.canary) : open;
  return pool.sort((a, b) => t.utilization(a, rps) - t.utilization(b, rps) || t.room(b) - t.room(a) || a.id.localeCompare(b.id))[0];
}

/** Where each of `markets` (of cell `from`) goes, heaviest first; throws `noRoom(market)` when one has nowhere to go. */
export function planEvacuationByLoad(from: string, t: Tally, markets: MarketLoad[], noRoom: (market: string) => Error): Move[] {
  const moves: Move[] = [];
  for (const m of [...markets].sort((a, b) => b.rps - a.rps || a.market.localeCompare(b.market))) {
    const to = pickTarget(t, m.rps, [from]);
    if (!to) throw noRoom(m.market);
    t.move(m, from, to.id);
    moves.push({ market: m.market, from, to: to.id, rps: m.rps });
  }
  return moves;
}

/** Options of {@link planRebalance}. */
export interface RebalanceOptions {
  /** At most this many moves (default 6). */
  maxMoves?: number;
  /** A cell counts as hot when its utilization is over the mean by more than this fraction (default 0.2). */
  tolerance?: number;
}

/**
 * Moves that even out utilization: while the hottest non-canary cell is over the mean by more than
 * the tolerance, its market that best closes the gap (the heaviest not overshooting it) moves to the
 * coolest cell with room, if that lowers the hotter of the two. The canary is neither a source nor
 * a target of a rebalance: it keeps its few small markets for rollouts.
 */
export function planRebalance(t: Tally, loads: MarketLoad[], o: RebalanceOptions = {}): Move[] {
  const maxMoves = o.maxMoves ?? 6;
  const tolerance = o.tolerance ?? 0.2;
  const cells = t.cells.filter((c) => c.state === 'active' && c.capacity > 0 && !c.canary);
  const totalCap = cells.reduce((n, c) => n + c.capacity, 0);
  const totalRps = cells.reduce((n, c) => n + (t.rps.get(c.id) ?? 0), 0);
  if (totalCap === 0 || totalRps <= 0) return [];
  const mean = totalRps / totalCap;
  const where = new Map(loads.map((m) => [m.market, m.cell]));
  const moves: Move[] = [];
  while (moves.length < maxMoves) {
    const hot = [...cells].sort((a, b) => t.utilization(b) - t.utilization(a))[0]!;
    const over = t.utilization(hot) - mean;
    if (over <= mean * tolerance) break;
    const gapRps = over * hot.capacity;
    const mine = loads.filter((m) => where.get(m.market) === hot.id && m.rps > 0).sort((a, b) => b.rps - a.rps);
    // The heaviest market that does not overshoot the gap, else the lightest one; either must cool
    // the hot cell without making its target the new, hotter one.
    const fits = (m: MarketLoad) => {
      const to = pickTarget(t, m.rps, [hot.id], false);
      if (!to || Math.max(t.utilization(hot, -m.rps), t.utilization(to, m.rps)) >= t.utilization(hot)) return undefined;
      return { market: m.market, from: hot.id, to: to.id, rps: m.rps };
    };
    let best: Move | undefined;
    for (const m of mine.filter((x) => x.rps <= gapRps)) if ((best = fits(m))) break;
    for (const m of [...mine].reverse().filter((x) => x.rps > gapRps)) if (!best && (best = fits(m))) break;
    if (!best) break;
    t.move(best, best.from, best.to);
    where.set(best.market, best.to);
    moves.push(best);
  }
  return moves;
}
