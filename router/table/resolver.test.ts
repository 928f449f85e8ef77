/**
 * Unit: routes are shared per interned market record, a moved market gets its new route at once,
 * and a cell or endpoint change makes every route fresh.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRegistry } from '../../shared/metrics.js';
import { RoutingStore } from '../../shared/routing-store.js';
import type { CellRecord } from '../../shared/kv.js';
import { createRouterMetrics } from '../metrics.js';
import { Resolver } from './resolver.js';

const cell = (id: string): CellRecord => ({ id, state: 'active', canary: false, global: false, capacity: 100, version: 'v1' });

function setup() {
  const store = new RoutingStore();
  store.setCells(
    new Map([
      ['cell-a', cell('cell-a')],
      ['cell-b', cell('cell-b')],
    ]),
  );
  store.setEndpoints([{ id: 'a1', cell: 'cell-a', address: '127.0.0.1', port: 9001, version: 'v1', color: 'blue' }]);
  const markets = Array.from(
    { length: 1000 },
    (_, i) => [`m-${i}`, { cell: i % 2 ? 'cell-a' : 'cell-b', state: 'active' as const, epoch: 1 }] as const,
  );
  store.applyMarkets(markets);
  return { store, resolver: new Resolver(store, createRouterMetrics(createRegistry('test'))) };
}

describe('Resolver', () => {
  it('shares one route among the markets with the same record', () => {
    const { store, resolver } = setup();
    assert.equal(store.markets.get('m-1'), store.markets.get('m-3'), 'records are interned');
    assert.equal(resolver.resolve('m-1'), resolver.resolve('m-3'));
    assert.notEqual(resolver.resolve('m-1'), resolver.resolve('m-2'));
    for (let i = 0; i < 1000; i++) resolver.resolve(`m-${i}`);
    assert.equal(resolver.size, 2, 'two distinct records, two routes');
    assert.equal(resolver.resolve('nope'), undefined);
  });

  it('routes a moved or frozen market anew at once', () => {
    const { store, resolver } = setup();
    assert.equal(resolver.resolve('m-1')!.cell, 'cell-a');
    store.applyMarkets([['m-1', { cell: 'cell-b', state: 'active', epoch: 2 }]]);
    assert.deepEqual({ cell: resolver.resolve('m-1')!.cell, epoch: resolver.resolve('m-1')!.epoch }, { cell: 'cell-b', epoch: 2 });
    assert.equal(resolver.resolve('m-3')!.cell, 'cell-a', 'the other markets of the old record stay');
    store.applyMarkets([['m-3', { cell: 'cell-a', state: 'frozen', epoch: 1 }]]);
    assert.equal(resolver.resolve('m-3')!.state, 'frozen');
    store.applyMarkets([], ['m-5']);
    assert.equal(resolver.resolve('m-5'), undefined);
  });

  it('routes every market to one cell under the drill sabotage everyMarketTo (and only then)', () => {
    const { store } = setup();
    const sabotaged = new Resolver(store, createRouterMetrics(createRegistry('test')), { everyMarketTo: 'cell-b' });
    for (let i = 0; i < 10; i++) assert.equal(sabotaged.resolve(`m-${i}`)!.cell, 'cell-b', `m-${i}`);
    assert.equal(sabotaged.resolve('m-1')!.epoch, 1, "the market's own record otherwise");
    assert.equal(sabotaged.resolve('nope'), undefined, 'an unknown market stays unknown');
  });

  it('recomputes routes when the endpoints or cells change', () => {
    const { store, resolver } = setup();
    assert.equal(resolver.resolve('m-2')!.endpoints.length, 0);
    store.setEndpoints([
      { id: 'a1', cell: 'cell-a', address: '127.0.0.1', port: 9001, version: 'v1', color: 'blue' },
      { id: 'b1', cell: 'cell-b', address: '127.0.0.1', port: 9002, version: 'v1', color: 'blue' },
    ]);
    assert.deepEqual(
      resolver.resolve('m-2')!.endpoints.map((e) => e.id),
      ['b1'],
    );
    store.setCells(new Map([['cell-a', cell('cell-a')]]));
    assert.equal(resolver.resolve('m-2')!.cellRecord, undefined, 'cell-b left cells/');
  });

  it('holds at most `max` routes', () => {
    const store = new RoutingStore();
    store.applyMarkets(Array.from({ length: 50 }, (_, i) => [`m-${i}`, { cell: 'cell-a', state: 'active' as const, epoch: i }] as const));
    const resolver = new Resolver(store, createRouterMetrics(createRegistry('test')), { max: 10 });
    for (let i = 0; i < 50; i++) assert.equal(resolver.resolve(`m-${i}`)!.epoch, i);
    assert.ok(resolver.size <= 10, `${resolver.size} routes`);
  });
});
