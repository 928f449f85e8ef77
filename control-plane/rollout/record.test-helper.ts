/**
 * A rollout record of two cells (cell-0 then cell-1, one wave each, both on v1 blue), for the
 * rollout tests: each test passes what differs (id, version, role, wave states, bake).
 */
import type { RolloutRecord } from '../../shared/kv.js';

/** The record of a running rollout over cell-0 and cell-1, with `patch` over it. */
export function twoCellRecord(
  patch: Partial<RolloutRecord> & Pick<RolloutRecord, 'id' | 'version'>,
  waveStates: [RolloutRecord['waves'][number]['state'], RolloutRecord['waves'][number]['state']] = ['pending', 'pending'],
): RolloutRecord {
  const at = new Date().toISOString();
  return {
    state: 'running',
    previous: { 'cell-0': { version: 'v1', color: 'blue' }, 'cell-1': { version: 'v1', color: 'blue' } },
    waves: [
      { cells: ['cell-0'], state: waveStates[0] },
      { cells: ['cell-1'], state: waveStates[1] },
    ],
    bakeMs: 30_000,
    by: 'tester',
    startedAt: at,
    updatedAt: at,
    ...patch,
  };
}
