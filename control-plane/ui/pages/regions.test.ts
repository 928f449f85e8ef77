/**
 * The Operations page's rollouts region as rendered on the server: a delivery rollout shows its
 * role and each cell's verdict (instances on the new version, the consumer group's lag, order
 * events handled); a rollout of the cells keeps its SLO verdict
 * (docs/kafka.md §Rolling out the delivery service).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveryVerdict, RolloutRecord, WaveVerdict } from '../../../shared/kv.js';
import type { Snapshot } from '../snapshot.js';
import { rolloutsRegion } from './regions.js';

const at = '2026-12-07T06:00:00.000Z';
const verdict = (cell: string, pass: boolean, reason: string, lag: [number, number, number]): DeliveryVerdict => ({
  cell,
  pass,
  reason,
  instances: pass ? 2 : 1,
  events: pass ? 57 : 0,
  lag: { start: lag[0], end: lag[1], max: lag[2] },
  at,
});
const rollout = (patch: Partial<RolloutRecord>): RolloutRecord => ({
  id: 'ro-1-v2',
  version: 'v2',
  state: 'rolled-back',
  previous: { 'cell-0': { version: 'v1', color: 'blue' }, 'cell-1': { version: 'v1', color: 'blue' } },
  waves: [],
  bakeMs: 4000,
  by: 'operator',
  startedAt: at,
  updatedAt: at,
  ...patch,
});
const render = async (rollouts: RolloutRecord[]) =>
  String(await rolloutsRegion({ rollouts } as unknown as Snapshot, false)).replace(/\s+/g, ' ');

describe('rollouts region', () => {
  it("shows a delivery rollout's role and each cell's verdict: instances, lag, order events", async () => {
    const page = await render([
      rollout({
        role: 'delivery',
        maxLag: 15,
        waves: [
          {
            cells: ['cell-0', 'cell-1'],
            state: 'breached',
            delivery: [
              verdict('cell-0', true, '2 of 2 instances on v2 passing', [3, 4, 9]),
              verdict('cell-1', false, 'consumer lag 40 records, above the bound of 15', [2, 40, 40]),
            ],
          },
          { cells: ['cell-2'], state: 'skipped' },
        ],
      }),
    ]);
    assert.match(page, /data-role="delivery"/);
    assert.match(page, /<span class="role">delivery service<\/span> <small>by operator, bake 4000 ms, lag bound 15<\/small>/);
    const wave0 = page.split('data-wave="1"')[0]!;
    assert.match(
      wave0,
      /<span class="verdict pass" data-cell="cell-0" >cell-0 pass: 2 of 2 instances on v2 passing \(2 instances on the new version, lag 3 → 4, highest 9, 57 order events\)<\/span >/,
    );
    assert.match(
      wave0,
      /<span class="verdict breach" data-cell="cell-1" >cell-1 breach: consumer lag 40 records, above the bound of 15 \(1 instances on the new version, lag 2 → 40, highest 40, 0 order events\)<\/span >/,
    );
    assert.doesNotMatch(page.split('data-wave="1"')[1]!, /class="verdict/, 'the skipped wave has no verdict');
  });

  it('shows a rollout of the cells without a role, with its SLO verdict', async () => {
    const slo: WaveVerdict = {
      pass: true,
      reason: 'within the SLO',
      requests: 120,
      errorRate: 0,
      p99Ms: 12,
      baseline: { requests: 300, errorRate: 0, p99Ms: 10 },
      at,
    };
    const page = await render([rollout({ state: 'succeeded', waves: [{ cells: ['cell-0'], state: 'passed', verdict: slo }] })]);
    assert.match(page, /data-role="cells"/);
    assert.doesNotMatch(page, /delivery service|data-cell=/);
    assert.match(page, /<small>by operator, bake 4000 ms<\/small>/);
    assert.match(page, /pass: within the SLO \(120 requests, errors 0\.00 %, p99 12 ms\)/);
  });
});
