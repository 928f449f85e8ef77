import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatMs, soakSchedule } from './schedule.js';

describe('soak schedule', () => {
  it('a 10-minute soak moves a market every 30 s and crashes every 2 minutes, down 5 s', () => {
    const s = soakSchedule(600_000);
    assert.equal(s.moveEveryMs, 30_000);
    assert.equal(s.crashEveryMs, 120_000);
    assert.equal(s.crashDownMs, 5_000);
    const moves = s.steps.filter((x) => x.kind === 'move').map((x) => x.at / 1000);
    const crashes = s.steps.filter((x) => x.kind === 'crash').map((x) => x.at / 1000);
    assert.deepEqual(crashes, [120, 240, 360, 480]);
    assert.equal(moves.length, 19);
    assert.equal(moves[0], 30);
    assert.equal(moves.at(-1), 570);
  });

  it('a short CI run scales the intervals down: 36 s gives five moves and two crashes', () => {
    const s = soakSchedule(36_000);
    assert.equal(s.moveEveryMs, 6000);
    assert.equal(s.crashEveryMs, 12_000);
    assert.equal(s.crashDownMs, 3000);
    assert.deepEqual(
      s.steps.map((x) => `${x.kind}@${x.at / 1000}`),
      ['move@6', 'crash@12', 'move@12', 'move@18', 'crash@24', 'move@24', 'move@30'],
    );
  });

  it('no step falls in the last half interval, so the last one can finish before the traffic stops', () => {
    for (const d of [10_000, 37_000, 95_000, 600_000, 1_800_000]) {
      const s = soakSchedule(d);
      for (const step of s.steps) {
        const every = step.kind === 'move' ? s.moveEveryMs : s.crashEveryMs;
        assert.ok(step.at <= d - every / 2, `${step.kind}@${step.at} in a ${d} ms run`);
      }
      const ats = s.steps.map((x) => x.at);
      assert.deepEqual(
        ats,
        [...ats].sort((a, b) => a - b),
      );
    }
  });

  it('formats durations for progress lines', () => {
    assert.equal(formatMs(800), '800ms');
    assert.equal(formatMs(45_000), '45s');
    assert.equal(formatMs(570_000), '9m30s');
  });
});
