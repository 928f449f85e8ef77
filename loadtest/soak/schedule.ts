/**
 * The soak's timeline: a market moves every 30 s and the soaked cell crashes every 2 minutes,
 * both scaled down for a short run so that a CI run of half a minute still has several moves and
 * a crash. Pure: the drill (loadtest/drills/soak.ts) plays it.
 */

/** A market moves this often in a long run. */
export const MOVE_EVERY_MS = 30_000;
/** The soaked cell crashes this often in a long run. */
export const CRASH_EVERY_MS = 120_000;
/** The longest a crashed cell is kept down before its restart. */
export const CRASH_DOWN_MS = 5_000;

/** One step of the soak, `at` ms after the soak started. */
export interface SoakStep {
  at: number;
  kind: 'move' | 'crash';
}

/** The intervals of a run and its steps in the order they are played. */
export interface SoakSchedule {
  moveEveryMs: number;
  crashEveryMs: number;
  /** How long each crash keeps the cell down before the restart. */
  crashDownMs: number;
  steps: SoakStep[];
}

/**
 * The schedule of a soak of `durationMs`: a move every min(30 s, duration/6), a crash every
 * min(2 min, duration/3), each crash down for min(5 s, crash interval/4). Steps fall at whole
 * multiples of their interval and no later than half an interval before the end, so the last
 * move or crash has time to finish and be seen before the traffic stops. A crash that falls on
 * a move goes first; steps never overlap (the drill plays them one after the other).
 */
export function soakSchedule(durationMs: number): SoakSchedule {
  const moveEveryMs = Math.round(Math.min(MOVE_EVERY_MS, durationMs / 6));
  const crashEveryMs = Math.round(Math.min(CRASH_EVERY_MS, durationMs / 3));
  const crashDownMs = Math.round(Math.min(CRASH_DOWN_MS, crashEveryMs / 4));
  const steps: SoakStep[] = [];
  const add = (kind: SoakStep['kind'], every: number) => {
    if (every <= 0) return;
    for (let k = 1; k * every <= durationMs - every / 2; k++) steps.push({ at: k * every, kind });
  };
  add('crash', crashEveryMs);
  add('move', moveEveryMs);
  steps.sort((a, b) => a.at - b.at || (a.kind === b.kind ? 0 : a.kind === 'crash' ? -1 : 1));
  return { moveEveryMs, crashEveryMs, crashDownMs, steps };
}

/** `ms` as `9m30s`, `45s` or `800ms`, for progress lines. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
