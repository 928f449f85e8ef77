import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { parseMix } from './cli.js';
import { planMoves } from './drills/operations.js';
import { cellShares, givenWeights, withCellFloor, withMinShare, zipfWeights } from './plan.js';

const owners = { a: 'cell-0', b: 'cell-1', c: 'cell-1', d: 'cell-2', e: 'cell-2', f: 'cell-2' };

describe('traffic plan', () => {
  it('weights markets unevenly: the first markets carry more than the last', () => {
    const w = zipfWeights(owners);
    assert.equal(w.length, 6);
    assert.ok(w[0]!.weight > w[5]!.weight * 3);
    const shares = cellShares(w);
    assert.ok(Math.abs(Object.values(shares).reduce((s, x) => s + x, 0) - 1) < 1e-9);
  });

  it('uses given weights, and the smallest one for a market without a weight', () => {
    const w = givenWeights(owners, { a: 10, b: 2 });
    assert.deepEqual(
      w.map((m) => m.weight),
      [10, 2, 2, 2, 2, 2],
    );
  });

  it('raises every cell under a floor share to it, markets in proportion, the others paying in proportion', () => {
    // cell-0 1%, cell-1 ~33%, cell-2 ~66% of the traffic.
    const w = withCellFloor(givenWeights(owners, { a: 1, b: 16, c: 17, d: 22, e: 22, f: 22 }), 1 / 6);
    const shares = cellShares(w);
    assert.ok(Math.abs(shares['cell-0']! - 1 / 6) < 1e-6, JSON.stringify(shares));
    assert.ok(Math.abs(shares['cell-1']! / shares['cell-2']! - 33 / 66) < 1e-4, 'the others keep their proportions');
    assert.ok(Math.abs(w[1]!.weight / w[2]!.weight - 16 / 17) < 1e-4, "a cell's markets keep theirs");
    // A raise that takes another cell under the floor raises it too.
    const chained = cellShares(withCellFloor(givenWeights(owners, { a: 1, b: 14, c: 14, d: 300, e: 300, f: 300 }), 0.3));
    assert.ok(Math.abs(chained['cell-0']! - 0.3) < 1e-6 && Math.abs(chained['cell-1']! - 0.3) < 1e-6, JSON.stringify(chained));
    assert.ok(Math.abs(chained['cell-2']! - 0.4) < 1e-6);
    const even = givenWeights(owners, { a: 3, b: 1.5, c: 1.5, d: 1, e: 1, f: 1 });
    assert.deepEqual(withCellFloor(even, 0.2), even, 'nothing under the floor: unchanged');
  });

  it('raises a cell to a minimum share and keeps the others in proportion', () => {
    const w = withMinShare(givenWeights(owners, { a: 1, b: 10, c: 10, d: 10, e: 10, f: 10 }), 'cell-0', 0.2);
    const shares = cellShares(w);
    assert.ok(Math.abs(shares['cell-0']! - 0.2) < 1e-6);
    assert.ok(Math.abs(shares['cell-2']! / shares['cell-1']! - 1.5) < 1e-6);
    // Already above: unchanged.
    assert.deepEqual(withMinShare(w, 'cell-2', 0.1), w);
  });
});

describe('drill planning', () => {
  it('moves markets of distinct non-canary cells, never to or from the canary', () => {
    const moves = planMoves(owners, ['cell-0', 'cell-1', 'cell-2'], 'cell-0', 3);
    assert.ok(moves.length >= 2);
    for (const m of moves) {
      assert.notEqual(m.from, 'cell-0');
      assert.notEqual(m.to, 'cell-0');
      assert.notEqual(m.from, m.to);
      assert.equal(owners[m.market as keyof typeof owners], m.from);
    }
    assert.ok(new Set(moves.slice(0, 2).map((m) => m.from)).size === 2, 'the first moves come from different cells');
  });

  it('parses an operation mix and refuses a bad one', () => {
    assert.deepEqual(parseMix('create=1,list=3'), { create: 1, get: 0, list: 3, cancel: 0 });
    assert.throws(() => parseMix('delete=1'), InvalidArgumentError);
    assert.throws(() => parseMix('create=-1'), InvalidArgumentError);
    assert.throws(() => parseMix('create=0'), InvalidArgumentError);
  });
});
