/** Tunables of a migration, merged with defaults once. */
import type { WaveVerdict } from '../../shared/kv.js';
import type { FrozenWant, Plane } from './freeze-barrier.js';

/**
 * The SLO verdict of a step of a move by share (docs/weighted-shifts.md §Market moves by share):
 * `start` opens a window on the market's requests in both cells; each call of what it returns
 * judges the target's (the moved share) against the source's (the rest) since then.
 */
export interface ShareJudge {
  start(market: string, source: string, target: string): Promise<() => Promise<WaveVerdict>>;
}

/** Timing knobs of the migration state machine. */
export interface MigrationOptions {
  /** Best-effort wait for the source's pending work to shrink before the freeze (ms). */
  preDrainMs: number;
  /** Pending work at or under this count is "drained enough" before the freeze. */
  preDrainThreshold: number;
  /**
   * Before the freeze, delta copies repeat until one carries at most this many rows (or
   * `preCopyRounds` ran), so the one delta copy inside the freeze window is small.
   */
  preCopyRows: number;
  preCopyRounds: number;
  /** Bound on the wait for pending work to reach zero once frozen (ms); past it the migration rolls back. */
  finalDrainMs: number;
  /**
   * Without `freezePlanes` only: a fixed pause between the KV freeze and the cell freeze so the
   * data planes likely see the frozen state first (ms). With them, the freeze barrier replaces it.
   */
  settleMs: number;
  /** Grace between the flip and purging the market from the source (ms). */
  cleanupGraceMs: number;
  /** Poll interval while waiting on a cell (ms). */
  pollMs: number;
  /**
   * Delta copies tried (within the freeze) until source and target summaries agree. One is
   * enough with cells that pause a frozen market's sagas; more only cover a cell that does not.
   */
  verifyAttempts: number;
  /**
   * The live data planes of a freeze (every registered router instance, the xDS server's Envoys):
   * the freeze barrier (freeze-barrier.ts) asks each until it confirms it holds the market
   * frozen as `want`, and the source cell freezes only then.
   */
  freezePlanes?: (market: string, want: FrozenWant) => Promise<Plane[]>;
  /** Bound on the freeze barrier (ms); past it, with a plane unconfirmed, the market thaws on its source. */
  barrierMs: number;
  /**
   * Before each freeze, every plane of `reachPlanes` must be reachable (docs/operators.md §Waiting for the data planes):
   * one that cannot be heard (a router that does not answer, an Envoy whose xDS stream is behind
   * or ended lately) is waited for, the market not frozen, up to this long in all (ms; asked every
   * `reachPollMs`); past it the migration rolls back naming it. 0: no wait, an unreachable plane
   * rolls the move back at once.
   */
  reachWaitMs: number;
  reachPollMs: number;
  /** The planes asked whether they can be heard before each freeze (the control plane's: those of `freezePlanes`). None: no wait. */
  reachPlanes?: (market: string, want: FrozenWant) => Promise<Plane[]>;
  /**
   * Freezes tried (each thawed after an unconfirmed barrier, `freezeRetryMs` apart) before the
   * migration rolls back; counted again from 1 after a wait for an unreachable plane.
   */
  freezeAttempts: number;
  freezeRetryMs: number;
  /**
   * A step of a move by share (docs/weighted-shifts.md §Market moves by share) waits this long after
   * writing the market record's share, beside the edge's barrier, so the routers see it (ms).
   */
  stepSettleMs: number;
  /**
   * Resolves once the edge serves `market`'s share move with `percent` (undefined: no share move)
   * and every Envoy ACKed it; a step waits for it, bounded by `stepBarrierMs`.
   */
  shareBarrier?: (market: string, percent: number | undefined) => Promise<void>;
  stepBarrierMs: number;
  /** Judges each step during its bake (every `stepCheckMs` and at its end); a breach rolls the move back. None: a bake only waits. */
  shareJudge?: ShareJudge;
  stepCheckMs: number;
  /**
   * How long validation waits for an unhealthy source or target to pass its checks again (ms). A
   * CI run (2026-12-07) saw a live cell-1 with no passing instance for 5 s on a loaded 2-core
   * machine, right after a control-plane restart: 15 s rides that out, and a dead cell is still
   * refused.
   */
  healthWaitMs: number;
}

/** Defaults: a short freeze, and the source kept for 30 s after the flip. */
export const DEFAULT_MIGRATION_OPTIONS: MigrationOptions = {
  preDrainMs: 3000,
  preDrainThreshold: 20,
  preCopyRows: 20,
  preCopyRounds: 5,
  finalDrainMs: 3000,
  settleMs: 50,
  cleanupGraceMs: 30_000,
  pollMs: 10,
  verifyAttempts: 8,
  barrierMs: 1500,
  reachWaitMs: 60_000,
  reachPollMs: 250,
  freezeAttempts: 3,
  freezeRetryMs: 1000,
  healthWaitMs: 15_000,
  stepSettleMs: 1000,
  stepCheckMs: 1000,
  stepBarrierMs: 8000,
};

/** Fills missing options with defaults. */
export function migrationOptions(partial: Partial<MigrationOptions> = {}): MigrationOptions {
  return { ...DEFAULT_MIGRATION_OPTIONS, ...partial };
}

/** States a migration can be rolled back from (the flip has not happened). */
export const BEFORE_FLIP = new Set(['validating', 'copying', 'draining', 'stepping', 'freezing', 'delta', 'verifying']);
/** Terminal states. */
export const TERMINAL = new Set(['done', 'rolled-back', 'failed']);
