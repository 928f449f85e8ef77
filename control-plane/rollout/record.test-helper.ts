/**
 * Stand-ins for the rollout tests: a rollout record of two cells (cell-0 then cell-1, one wave
 * each, both on v1 blue), each test passing what differs (id, version, role, wave states, bake);
 * and a supervisor's delivery child as `/children` lists it.
 */
import type { RolloutRecord } from '../../shared/kv.js';
import type { ChildStatus } from './supervisor-client.js';

/** The running delivery child `<cell>.delivery-<n>` on `version`, listening on `port`. */
export function deliveryChild(cell: string, n: number, version: string, port: number): ChildStatus {
  return { name: `${cell}.delivery-${n}`, kind: 'delivery', cell, version, port, state: 'running', pid: 1, restarts: 0, keepDown: false };
}

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
