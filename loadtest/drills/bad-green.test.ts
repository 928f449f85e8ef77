/** The bad-green-step drill's own verdicts on crafted data: the step's damage, the rollout record, the bake. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RolloutRecord, WaveVerdict } from '../../shared/kv.js';
import type { RequestPoint } from '../points.js';
import { bakeFor, damageVerdict, recordVerdicts } from './bad-green.js';

function point(start: number, owner: string, failed: boolean): RequestPoint {
  return {
    start,
    end: start + 5,
    ms: 5,
    market: 'm',
    owner,
    cell: owner,
    plane: 'router',
    replica: 'router-1',
    op: 'get',
    status: failed ? 500 : 200,
    code: failed ? 'injected' : 'none',
    scope: owner === 'cell-0' ? 'faulted' : 'other',
    attempt: 'first',
    failed,
  };
}

/** `n` canary requests at times 0..n-1, the first `failed` of them failed, plus `others` on cell-1. */
function points(n: number, failed: number, others = 0): RequestPoint[] {
  return [
    ...Array.from({ length: n }, (_, i) => point(i, 'cell-0', i < failed)),
    ...Array.from({ length: others }, (_, i) => point(i, 'cell-1', false)),
  ];
}

const verdict = (pass: boolean): WaveVerdict => ({
  pass,
  reason: pass ? 'ok' : 'error rate 40.9% vs baseline 0.0%',
  requests: 22,
  errorRate: pass ? 0 : 0.409,
  p99Ms: 5,
  baseline: { requests: 500, errorRate: 0, p99Ms: 5 },
  at: '2026-12-06T20:00:00Z',
});

function record(state: RolloutRecord['state'], steps: { percent: number; verdict?: WaveVerdict }[], later = 'skipped'): RolloutRecord {
  return {
    id: 'r1',
    version: 'v2-broken',
    state,
    previous: { 'cell-0': { version: 'v1', color: 'blue' }, 'cell-1': { version: 'v1', color: 'blue' } },
    waves: [
      { cells: ['cell-0'], state: steps.at(-1)?.verdict?.pass === false ? 'breached' : 'rolled-back', steps },
      { cells: ['cell-1'], state: later as RolloutRecord['waves'][number]['state'] },
    ],
    bakeMs: 25_000,
    steps: [1, 10, 50],
    by: 'test',
    startedAt: '2026-12-06T20:00:00Z',
    updatedAt: '2026-12-06T20:00:30Z',
  };
}

describe('bad-green-step verdicts', () => {
  it('damage: failures within 1 % of the canary requests (+4 sd + 1) pass, more fail, nothing to judge fails', () => {
    // 3,000 canary requests: 1 % is 30, 4 sd about 21.8, so 52 is the bound.
    const ok = damageVerdict(points(3000, 52, 500), 'cell-0', 0, 5000, 1);
    assert.equal(ok.pass, true, ok.measured);
    assert.match(ok.threshold, /^<= 52 /);
    const bad = damageVerdict(points(3000, 53, 500), 'cell-0', 0, 5000, 1);
    assert.equal(bad.pass, false, bad.measured);
    assert.match(bad.measured, /^53 failed of 3000 canary requests/);
    // Only requests started while the new version ran count.
    assert.equal(damageVerdict(points(3000, 300), 'cell-0', 2000, 2999, 1).pass, true);
    assert.equal(damageVerdict(points(3000, 300), 'cell-0', undefined, undefined, 1).pass, false);
    assert.equal(damageVerdict([], 'cell-0', 0, 10, 1).pass, false);
  });

  it('the record: caught only when the 1 % step breached and no later step began', () => {
    const names = (r: RolloutRecord | undefined) => Object.fromEntries(recordVerdicts(r, 'cell-0').map((v) => [v.name, v.pass]));
    assert.deepEqual(names(record('rolled-back', [{ percent: 1, verdict: verdict(false) }])), {
      'caught at the 1% step': true,
      'rollout rolled back': true,
      'no wave after cell-0 started': true,
    });
    // A good green: the 1 % step passed, the drill aborted at 10 %.
    assert.deepEqual(names(record('aborted', [{ percent: 1, verdict: verdict(true) }, { percent: 10 }])), {
      'caught at the 1% step': false,
      'rollout rolled back': false,
      'no wave after cell-0 started': true,
    });
    // Caught later than 1 %.
    assert.equal(
      names(
        record('rolled-back', [
          { percent: 1, verdict: verdict(true) },
          { percent: 10, verdict: verdict(false) },
        ]),
      )['caught at the 1% step'],
      false,
    );
    // Another wave staged.
    assert.equal(names(record('rolled-back', [{ percent: 1, verdict: verdict(false) }], 'staging'))['no wave after cell-0 started'], false);
    assert.deepEqual(Object.values(names(undefined)), [false, false, false]);
  });

  it('the bake gives the green about 25 requests at the first step', () => {
    assert.equal(bakeFor(100), 50_000);
    assert.equal(bakeFor(150), 34_000);
    assert.equal(bakeFor(10_000), 10_000);
  });
});
