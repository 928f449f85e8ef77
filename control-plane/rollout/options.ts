/** Tunables of a rollout, merged with defaults once. */
import { DEFAULT_SLO, type SloOptions } from './slo.js';

/** How a rollout proceeds. */
export interface RolloutOptions {
  /** Bake time of each wave (ms). */
  bakeMs: number;
  /** Sizes of the waves after the canary; the last size repeats (default [2]: two cells a wave). */
  waveSizes: number[];
  /**
   * The first ms of each bake that are not judged (the verdict's window opens after them): a new
   * instance's first requests are cold (a fresh process compiles its hot paths while it answers),
   * and on a busy machine two slow ones are a latency breach of a sample of 50. Canary analysis
   * tools call this a warm-up; at most half the bake. 0: the whole bake is judged.
   */
  warmupMs: number;
  /** How often the SLO is checked while baking (ms). */
  checkIntervalMs: number;
  /** Bound on a new instance becoming healthy (ms). */
  stageTimeoutMs: number;
  /**
   * Accept a wave whose bake saw fewer than `slo.minRequests` requests on its new instances.
   * Off by default: a canary nobody used proves nothing, so such a wave fails and rolls back.
   */
  allowIdle: boolean;
  /**
   * Weighted steps (docs/weighted-shifts.md): before a wave's full switch, each of these shares
   * (percent, rising, below 100) of its cells' traffic goes to the new color for a bake of its own,
   * judged like the wave's. Empty: the switch is whole at once.
   */
  steps: number[];
  /**
   * A delivery rollout's bound on the consumer group's lag (records): above it, and above where it
   * stood before the cell's first step, the cell's delivery version breaches.
   */
  maxLag: number;
  slo: SloOptions;
}

/** Defaults: a 30 s bake per wave, checked every second. */
export const DEFAULT_ROLLOUT: RolloutOptions = {
  bakeMs: 30_000,
  waveSizes: [2],
  warmupMs: 0,
  checkIntervalMs: 1000,
  stageTimeoutMs: 60_000,
  allowIdle: false,
  steps: [],
  maxLag: 100,
  slo: DEFAULT_SLO,
};

/** Fills missing options with defaults. */
export function rolloutOptions(p: Partial<RolloutOptions> = {}): RolloutOptions {
  return { ...DEFAULT_ROLLOUT, ...p, slo: { ...DEFAULT_SLO, ...p.slo } };
}

/** Splits the cells after the canary into waves of the given sizes (the last size repeats). */
export function planWaves(canary: string, others: string[], sizes: number[]): string[][] {
  const waves: string[][] = [[canary]];
  let i = 0;
  let w = 0;
  while (i < others.length) {
    const size = Math.max(1, sizes[Math.min(w, sizes.length - 1)] ?? 1);
    waves.push(others.slice(i, i + size));
    i += size;
    w++;
  }
  return waves;
}
