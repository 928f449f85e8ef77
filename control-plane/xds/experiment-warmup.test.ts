import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import type { Endpoint } from '../../shared/routing-table.js';
import { ResourceBuilder } from './build.js';
import { ExperimentWarmup } from './experiment-warmup.js';
import { CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE } from './resources/type-urls.js';

const cell = (activeColor: 'blue' | 'green'): CellRecord => ({
  id: 'cell-1',
  state: 'active',
  canary: false,
  global: false,
  capacity: 1,
  version: 'v1',
  activeColor,
});
const ep = (color: 'blue' | 'green', port: number): Endpoint => ({
  id: `c1-${color}`,
  cell: 'cell-1',
  address: '127.0.0.1',
  port,
  version: 'v1',
  color,
});
const XP: MarketRecord = {
  cell: 'cell-1',
  state: 'active',
  epoch: 1,
  experiment: { header: 'x-customer-id', color: 'green', percent: 10 },
};

describe('experiment resources and warm-up', () => {
  it('publishes the route configuration and one-color clusters, and moves the scope once warm', () => {
    const b = new ResourceBuilder();
    const base = {
      cells: new Map([['cell-1', cell('blue')]]),
      markets: new Map([['m-1', XP]]),
      endpoints: new Map([['cell-1', [ep('blue', 1001)]]]),
      allEndpoints: [ep('blue', 1001), ep('green', 1002)],
      globalCell: undefined,
    };
    const cold = b.build({ ...base, warmExperiments: new Set() });
    assert.ok(cold.types.get(ROUTE)!.has('xp:m-1'));
    assert.ok(cold.types.get(CLUSTER)!.has('cell:cell-1:green') && cold.types.get(CLUSTER)!.has('cell:cell-1:blue'));
    assert.ok(cold.types.get(ENDPOINT)!.has('cell:cell-1:green'));
    assert.equal(cold.types.get(SCOPED_ROUTE)!.get('market:m-1')!.refs[0]!.name, 'cell:cell-1', 'not warm: the cell configuration');
    assert.ok(cold.types.get(SCOPED_ROUTE)!.has('route:xp:m-1'), 'anchored, so Envoy loads it');
    const warm = b.build({ ...base, changedMarkets: new Set(), warmExperiments: new Set(['m-1']) });
    assert.equal(warm.types.get(SCOPED_ROUTE)!.get('market:m-1')!.refs[0]!.name, 'xp:m-1');
    // The active color flips to the experiment's color: the experiment splits nothing any more.
    const flipped = b.build({
      ...base,
      cells: new Map([['cell-1', cell('green')]]),
      changedMarkets: new Set(),
      warmExperiments: new Set(),
    });
    assert.equal(flipped.types.get(SCOPED_ROUTE)!.get('market:m-1')!.refs[0]!.name, 'cell:cell-1');
    assert.equal(flipped.types.get(ROUTE)!.has('xp:m-1'), false);
  });

  it('is warm warmMs after the experiment appears, again after its cell or color changes, at once for a new percent', () => {
    let now = 1000;
    const w = new ExperimentWarmup(3000, () => now);
    const cells = new Map([['cell-1', cell('blue')]]);
    const markets = new Map([['m-1', XP]]);
    assert.deepEqual(w.apply(markets, undefined, cells), { warm: new Set(), nextExpiry: 4000 });
    now = 4000;
    assert.deepEqual(w.apply(markets, new Set(), cells).warm, new Set(['m-1']));
    markets.set('m-1', { ...XP, experiment: { ...XP.experiment!, percent: 50 } });
    assert.deepEqual(w.apply(markets, new Set(['m-1']), cells).warm, new Set(['m-1']));
    markets.set('m-1', { ...XP, cell: 'cell-1', experiment: { ...XP.experiment!, color: 'blue' } });
    cells.set('cell-1', cell('green'));
    assert.deepEqual(w.apply(markets, new Set(['m-1']), cells), { warm: new Set(), nextExpiry: 7000 });
    markets.delete('m-1');
    assert.deepEqual(w.apply(markets, new Set(['m-1']), cells), { warm: new Set(), nextExpiry: undefined });
  });
});
