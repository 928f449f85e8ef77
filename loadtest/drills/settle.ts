/**
 * Every cell passing its Consul checks, waited for: before a drill that moves a market (a move's
 * validation refuses a cell with no passing instance, docs/operators.md), so that what a previous
 * drill left (a host cut off and declared dead, a cell restarting) cannot fail this one; and after
 * `host-partition`'s restore, timed for its verdict (docs/drills.md §Network drills).
 */
import type { CellHealth, DrillEnv } from '../env/types.js';

/** How long a drill that moves a market waits for every cell to pass before it refuses to run. */
export const SETTLE_BOUND_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a wait saw: the cells passing and when (ms from its start), the last view of the others. */
export interface PassingWait {
  /** cell → ms from the start of the wait to its first passing answer. */
  passedAfter: Record<string, number>;
  /** cell → its failing checks at the last answer (or why it could not be read), for the cells that never passed. */
  notPassing: Record<string, string>;
}

/** One line per cell that is not passing: `cell-1 (cell-1 serfHealth critical: Agent not live or unreachable)`. */
export function describeNotPassing(notPassing: Record<string, string>): string {
  return Object.entries(notPassing)
    .map(([cell, why]) => `${cell} (${why})`)
    .join('; ');
}

function why(h: CellHealth | undefined): string {
  if (!h) return 'no instance registered in Consul';
  return h.failing.length ? h.failing.join(', ') : 'no instance with every check passing';
}

/**
 * Polls `env.cellHealth` every `pollMs` until each of `cells` has passed once, for at most
 * `boundMs`. Never throws: a Consul read that fails counts as not passing yet (its error is kept).
 * Resolves at once, empty, when the topology cannot tell its cells' health.
 */
export async function waitPassing(env: DrillEnv, cells: readonly string[], boundMs: number, pollMs = 250): Promise<PassingWait> {
  const out: PassingWait = { passedAfter: {}, notPassing: {} };
  if (!env.cellHealth) return out;
  const t0 = Date.now();
  for (;;) {
    let health: Record<string, CellHealth> | undefined;
    let readErr: string | undefined;
    try {
      health = await env.cellHealth();
    } catch (err) {
      readErr = `Consul not read: ${(err as Error).message.split('\n')[0]}`;
    }
    const now = Date.now() - t0;
    out.notPassing = {};
    for (const c of cells) {
      if (c in out.passedAfter) continue;
      if (health?.[c]?.passing) out.passedAfter[c] = now;
      else out.notPassing[c] = readErr ?? why(health?.[c]);
    }
    if (Object.keys(out.notPassing).length === 0 || now >= boundMs) return out;
    await sleep(Math.min(pollMs, boundMs - now));
  }
}

/**
 * Before a drill that moves a market: waits (at most `boundMs`) until every cell of the topology
 * passes its Consul checks; resolves with the time waited, or throws naming each cell that did
 * not pass and its failing checks.
 */
export async function settleCells(env: DrillEnv, boundMs = SETTLE_BOUND_MS, pollMs = 250): Promise<number> {
  const t0 = Date.now();
  const w = await waitPassing(env, env.cells(), boundMs, pollMs);
  if (Object.keys(w.notPassing).length > 0)
    throw new Error(
      `this drill moves a market, and not every cell passes its Consul checks after ${Math.round(boundMs / 1000)} s (a previous drill's fault not over?): ${describeNotPassing(w.notPassing)}`,
    );
  return Date.now() - t0;
}
