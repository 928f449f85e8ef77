import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../analyze.js';
import type { RequestPoint } from '../points.js';
import { failuresOutsideCrashes, ownersAt, reattribute, servedAgainMs, type PlayedCrash, type PlayedMove } from './timeline.js';

const T0 = 1_800_000_000_000;

function req(p: Partial<RequestPoint> & { start: number }): RequestPoint {
  return {
    end: p.start + 5,
    ms: 5,
    market: 'nyc',
    owner: 'cell-1',
    cell: 'cell-1',
    plane: 'router',
    replica: 'router-0',
    op: 'get',
    status: 200,
    code: 'none',
    scope: 'other',
    attempt: 'first',
    failed: false,
    ...p,
  };
}

const move = (start: number, from: string, to: string, market = 'nyc'): PlayedMove => ({
  market,
  from,
  to,
  target: to,
  start: T0 + start,
  end: T0 + start + 1000,
  exitCode: 0,
});

// nyc moves cell-1 → cell-2 at 10 s, and back at 30 s.
const MOVES = [move(10_000, 'cell-1', 'cell-2'), move(30_000, 'cell-2', 'cell-1')];

describe('soak timeline', () => {
  it('the owner of a market that moves twice, moment by moment; either owner inside a move', () => {
    assert.deepEqual(ownersAt('cell-1', MOVES, T0 + 5_000), ['cell-1']);
    assert.deepEqual(ownersAt('cell-1', MOVES, T0 + 10_500), ['cell-1', 'cell-2']);
    assert.deepEqual(ownersAt('cell-1', MOVES, T0 + 20_000), ['cell-2']);
    assert.deepEqual(ownersAt('cell-1', MOVES, T0 + 30_500), ['cell-2', 'cell-1']);
    assert.deepEqual(ownersAt('cell-1', MOVES, T0 + 40_000), ['cell-1']);
    // A move rolled back leaves the owner where it was.
    assert.deepEqual(ownersAt('cell-1', [{ ...move(10_000, 'cell-1', 'cell-1'), target: 'cell-2', exitCode: 1 }], T0 + 20_000), ['cell-1']);
  });

  it('re-attributed points make the analysis catch an answer from the old owner after a move, and accept the new one', () => {
    const points = [
      req({ start: T0 + 5_000, cell: 'cell-1' }),
      req({ start: T0 + 10_200, cell: 'cell-2' }),
      req({ start: T0 + 20_000, cell: 'cell-2' }),
      // Stale routing: the old owner answers 10 s after the move.
      req({ start: T0 + 21_000, cell: 'cell-1' }),
      req({ start: T0 + 40_000, cell: 'cell-1' }),
    ];
    const w = { start: T0, end: T0 + 50_000, cells: [] };
    const plain = analyze({ requests: points, failovers: [] }, w);
    // Judged against the plan's owner alone, the right answers from cell-2 look wrong.
    assert.equal(plain.wrongCell.count, 2);
    const a = analyze({ requests: reattribute(points, MOVES), failovers: [] }, w);
    assert.equal(a.wrongCell.count, 1);
    assert.equal(a.wrongCell.examples[0]?.start, T0 + 21_000);
    assert.equal(a.wrongCell.examples[0]?.owner, 'cell-2');
  });

  it('a request of a market moved into the soaked cell counts as that cell’s while it owns it', () => {
    const moved = reattribute([req({ start: T0 + 20_000, owner: 'cell-1', cell: '', status: 503, failed: true })], MOVES);
    assert.equal(moved[0]?.owner, 'cell-2');
    const a = analyze({ requests: moved, failovers: [] }, { start: T0, end: T0 + 50_000, cells: ['cell-2'] });
    assert.equal(a.spill.failed, 0);
  });

  it('failures of the crashed cell are explained from the kill until a grace after ready; later ones are not', () => {
    const crashes: PlayedCrash[] = [{ cell: 'cell-1', start: T0 + 10_000, ready: T0 + 13_000 }];
    const failed = (at: number, ms = 5) => req({ start: T0 + at, end: T0 + at + ms, ms, failed: true, status: 503 });
    const points = [
      failed(9_000, 1500), // in flight at the kill
      failed(12_000),
      failed(17_000), // within 5 s after ready
      failed(19_000), // after the grace: the cell did not recover
      req({ start: T0 + 9_500, failed: true, status: 503, owner: 'cell-2' }), // another cell's: not this check's
    ];
    const out = failuresOutsideCrashes(points, 'cell-1', crashes, 5000);
    assert.deepEqual(
      out.map((p) => p.start - T0),
      [19_000],
    );
    // A crash that never came back explains all that follows.
    assert.deepEqual(failuresOutsideCrashes(points, 'cell-1', [{ ...crashes[0]!, ready: null }], 5000), []);
  });

  it('a crashed cell serves again: the first success of its markets after ready, or null', () => {
    const crash: PlayedCrash = { cell: 'cell-1', start: T0 + 10_000, ready: T0 + 13_000 };
    const points = [
      req({ start: T0 + 12_000, failed: true, status: 503 }),
      req({ start: T0 + 13_100, failed: true, status: 503 }),
      req({ start: T0 + 13_150, owner: 'cell-2', cell: 'cell-2' }),
      req({ start: T0 + 13_400 }),
    ];
    assert.equal(servedAgainMs(points, 'cell-1', crash), 400);
    assert.equal(servedAgainMs(points.slice(0, 3), 'cell-1', crash), null);
    assert.equal(servedAgainMs(points, 'cell-1', { ...crash, ready: null }), null);
  });
});
