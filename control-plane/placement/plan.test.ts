import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Tally, pickTarget, planEvacuationByLoad, planRebalance, type MarketLoad, type PlacementCell } from './plan.js';

const cell = (id: string, capacity: number, extra: Partial<PlacementCell> = {}): PlacementCell => ({
  id,
  state: 'active',
  canary: false,
  capacity,
  ...extra,
});
const load = (market: string, c: string, rps: number): MarketLoad => ({ market, cell: c, rps });

describe('placement by load: picking a target', () => {
  it('picks the cell whose utilization (rps per unit of capacity) is lowest after the move, not the one with fewest markets', () => {
    const cells = [cell('cell-1', 10), cell('cell-2', 10)];
    // cell-1: one hot market (50 rps); cell-2: three idle ones
    const t = new Tally(cells, [load('a', 'cell-1', 50), load('b', 'cell-2', 1), load('c', 'cell-2', 1), load('d', 'cell-2', 1)]);
    assert.equal(pickTarget(t, 5)?.id, 'cell-2');
  });

  it('weighs capacity: a cell twice as big takes twice the traffic', () => {
    const t = new Tally([cell('small', 10), cell('big', 20)], [load('a', 'small', 10), load('b', 'big', 25)]);
    assert.equal(t.utilization(cell('small', 10), 5), 1.5);
    assert.equal(t.utilization(cell('big', 20), 5), 1.5);
    assert.equal(pickTarget(t, 5)?.id, 'big', 'a tie on utilization goes to the cell with more room');
  });

  it('never fills a cell past its capacity in markets, and takes the canary only when nothing else has room', () => {
    const canary = cell('cell-0', 2, { canary: true });
    const t = new Tally([canary, cell('cell-1', 1)], [load('a', 'cell-1', 0)]);
    assert.equal(pickTarget(t, 0)?.id, 'cell-0', 'cell-1 is full');
    t.add('cell-0', 0, 2);
    assert.equal(pickTarget(t, 0), undefined, 'the canary is full too');
    assert.equal(pickTarget(new Tally([canary, cell('cell-1', 5)], []), 0)?.id, 'cell-1');
    assert.equal(pickTarget(new Tally([canary], []), 0, [], false), undefined, 'no canary when asked');
  });

  it('skips draining cells and the excluded source', () => {
    const t = new Tally([cell('cell-1', 5), cell('cell-2', 5, { state: 'draining' }), cell('cell-3', 5)], []);
    assert.equal(pickTarget(t, 1, ['cell-1'])?.id, 'cell-3');
  });
});

describe('placement by load: evacuation', () => {
  it('spreads the heaviest markets first, each to the coolest cell, and refuses when one has nowhere to go', () => {
    const cells = [cell('cell-1', 10), cell('cell-2', 10), cell('cell-3', 10)];
    const mine = [load('a', 'cell-1', 30), load('b', 'cell-1', 20), load('c', 'cell-1', 10)];
    const t = new Tally(cells, [...mine, load('x', 'cell-2', 25)]);
    const moves = planEvacuationByLoad('cell-1', t, mine, (m) => new Error(m));
    assert.deepEqual(
      moves.map((m) => `${m.market}->${m.to}`),
      ['a->cell-3', 'b->cell-2', 'c->cell-3'],
    );
    const full = new Tally([cell('cell-1', 5), cell('cell-2', 1)], [load('x', 'cell-2', 0)]);
    assert.throws(
      () => planEvacuationByLoad('cell-1', full, [load('a', 'cell-1', 1)], (m) => new Error(`no room for ${m}`)),
      /no room for a/,
    );
  });
});

describe('placement by load: rebalance', () => {
  it('moves load off the hottest cell until every cell is within the tolerance of the mean, a bounded number of moves', () => {
    const cells = [cell('cell-0', 4, { canary: true }), cell('cell-1', 10), cell('cell-2', 10), cell('cell-3', 10)];
    const loads = [
      ...['a', 'b', 'c', 'd', 'e', 'f'].map((m) => load(m, 'cell-1', 10)),
      load('g', 'cell-2', 5),
      load('h', 'cell-3', 5),
      load('k', 'cell-0', 1),
    ];
    const t = new Tally(cells, loads);
    const moves = planRebalance(t, loads);
    assert.ok(moves.length > 0 && moves.length <= 6);
    assert.ok(
      moves.every((m) => m.from === 'cell-1' && m.to !== 'cell-0'),
      JSON.stringify(moves),
    );
    const util = ['cell-1', 'cell-2', 'cell-3'].map((id) => t.utilization(cells.find((c) => c.id === id)!));
    const mean = 70 / 30;
    assert.ok(
      util.every((u) => u <= mean * 1.2 + 1e-9),
      `after: ${util.join(', ')}`,
    );
    assert.equal(t.markets.get('cell-0'), 1, 'the canary took nothing');
  });

  it('plans nothing for an even or idle topology, and respects maxMoves', () => {
    const cells = [cell('cell-1', 10), cell('cell-2', 10)];
    assert.deepEqual(planRebalance(new Tally(cells, [load('a', 'cell-1', 10), load('b', 'cell-2', 10)]), []), []);
    assert.deepEqual(planRebalance(new Tally(cells, [load('a', 'cell-1', 0)]), [load('a', 'cell-1', 0)]), []);
    const loads = ['a', 'b', 'c', 'd'].map((m) => load(m, 'cell-1', 10));
    assert.equal(planRebalance(new Tally(cells, loads), loads, { maxMoves: 1 }).length, 1);
  });

  it('does not move a market that would only make its target the new hot cell', () => {
    const cells = [cell('cell-1', 10), cell('cell-2', 10)];
    const loads = [load('a', 'cell-1', 30), load('b', 'cell-2', 10)];
    assert.deepEqual(planRebalance(new Tally(cells, loads), loads), [], 'moving a (30) makes cell-2 hotter than cell-1 was');
  });
});
