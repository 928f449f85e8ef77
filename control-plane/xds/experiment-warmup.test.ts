import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import type { Endpoint } from '../../shared/routing-table.js';
import { ResourceBuilder } from './build.js';
import { ExperimentWarmup } from './experiment-warmup.js';
import { decodeAny } from './resources/proto.js';
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

  it("publishes a share move's route configuration while its target is known and not down, and scopes it while the target passes", () => {
    const b = new ResourceBuilder();
    const SM: MarketRecord = {
      cell: 'cell-1',
      state: 'active',
      epoch: 1,
      shareMove: { to: 'cell-2', header: 'x-customer-id', percent: 30.25 },
    };
    const cell2 = (state: CellRecord['state']): CellRecord => ({ ...cell('blue'), id: 'cell-2', state, activeColor: undefined });
    const ep2: Endpoint = { ...ep('blue', 1003), id: 'c2', cell: 'cell-2' };
    const scope = (r: ReturnType<ResourceBuilder['build']>) => r.types.get(SCOPED_ROUTE)!.get('market:m-1')!.refs[0]!.name;
    const base = {
      cells: new Map([
        ['cell-1', cell('blue')],
        ['cell-2', cell2('active')],
      ]),
      markets: new Map([['m-1', SM]]),
      endpoints: new Map([
        ['cell-1', [ep('blue', 1001)]],
        ['cell-2', [ep2]],
      ]),
      globalCell: undefined,
    };
    const cold = b.build({ ...base, warmExperiments: new Set() });
    const rc = cold.types.get(ROUTE)!.get('sm:m-1')!;
    assert.deepEqual(
      rc.refs.map((r) => r.name),
      ['cell:cell-2', 'cell:cell-1'],
    );
    const vhost = (decodeAny(rc.any) as { virtual_hosts: { routes: Record<string, unknown>[]; response_headers_to_add?: unknown[] }[] })
      .virtual_hosts[0]!;
    assert.equal(vhost.response_headers_to_add, undefined, 'x-cell-id is set per route');
    const [moved, rest] = vhost.routes;
    assert.deepEqual(moved!.match, { prefix: '/v1/', headers: [{ name: 'x-cellsim-arm', string_match: { exact: 'variant' } }] });
    assert.equal((moved!.route as { cluster: string }).cluster, 'cell:cell-2');
    assert.equal(JSON.stringify(moved!.response_headers_to_add).includes('"cell-2"'), true);
    assert.equal((rest!.route as { cluster: string }).cluster, 'cell:cell-1');
    assert.match(JSON.stringify(rest!.metadata), /"threshold":\{"numberValue":3025\}/);
    assert.ok(cold.types.get(SCOPED_ROUTE)!.has('route:sm:m-1'), 'anchored, so Envoy loads it');
    assert.equal(scope(cold), 'cell:cell-1', 'not warm: the owning cell');
    const warm = { ...base, changedMarkets: new Set<string>(), warmExperiments: new Set(['m-1']) };
    assert.equal(scope(b.build(warm)), 'sm:m-1');
    // The target without a passing instance: the configuration stays loaded, the scope goes back to the owner.
    const noneLeft = b.build({ ...warm, passingEndpoints: new Map([['cell-1', [ep('blue', 1001)]]]) });
    assert.equal(scope(noneLeft), 'cell:cell-1');
    assert.ok(noneLeft.types.get(ROUTE)!.has('sm:m-1'));
    assert.equal(scope(b.build(warm)), 'sm:m-1', 'back once it passes again');
    // The target down or missing: no configuration, the owner serves.
    for (const cells of [new Map(base.cells).set('cell-2', cell2('down')), new Map([['cell-1', cell('blue')]])]) {
      const r = b.build({ ...warm, cells });
      assert.equal(scope(r), 'cell:cell-1');
      assert.equal(r.types.get(ROUTE)!.has('sm:m-1'), false);
    }
  });

  it('warms a share move, again for a new target, and once its target appears in cells/', () => {
    let now = 1000;
    const w = new ExperimentWarmup(3000, () => now);
    const SM: MarketRecord = {
      cell: 'cell-1',
      state: 'active',
      epoch: 1,
      shareMove: { to: 'cell-2', header: 'x-customer-id', percent: 10 },
    };
    const cells = new Map([['cell-1', cell('blue')]]);
    const markets = new Map([['m-1', SM]]);
    assert.deepEqual(w.apply(markets, undefined, cells), { warm: new Set(), nextExpiry: undefined }, 'target unknown');
    cells.set('cell-2', { ...cell('blue'), id: 'cell-2' });
    assert.deepEqual(w.apply(markets, new Set(), cells), { warm: new Set(), nextExpiry: 4000 }, 'a cell change alone starts it');
    now = 4000;
    assert.deepEqual(w.apply(markets, new Set(), cells).warm, new Set(['m-1']));
    markets.set('m-1', { ...SM, shareMove: { ...SM.shareMove!, percent: 50 } });
    assert.deepEqual(w.apply(markets, new Set(['m-1']), cells).warm, new Set(['m-1']), 'a new percent: at once');
    cells.set('cell-3', { ...cell('blue'), id: 'cell-3' });
    markets.set('m-1', { ...SM, shareMove: { ...SM.shareMove!, to: 'cell-3' } });
    assert.deepEqual(w.apply(markets, new Set(['m-1']), cells), { warm: new Set(), nextExpiry: 7000 }, 'a new target: again');
  });
});
