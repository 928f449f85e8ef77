/** FeedView: the xDS builder's input assembled from the feed's parts, on a fake markets source (no Consul). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import type { Endpoint } from '../../shared/routing-table.js';
import { FeedView, type MarketsSource } from './feed-view.js';
import type { RoutingView } from './last-good.js';

const log = createLogger('test');
log.level = 'silent';

const cell = (id: string, o: Partial<CellRecord> = {}): CellRecord => ({
  id,
  state: 'active',
  canary: false,
  global: false,
  capacity: 100,
  version: 'v1',
  activeColor: 'blue',
  ...o,
});
const cellMap = (...records: CellRecord[]) => new Map(records.map((r) => [r.id, r]));
const ep = (c: string, n: number, color: 'blue' | 'green' = 'blue'): Endpoint => ({
  id: `${c}-${color}-${n}`,
  cell: c,
  address: '127.0.0.1',
  port: 9000 + n,
  version: 'v1',
  color,
});
const hold = [ep('xds', 1)];
const market = (c: string, epoch = 1): MarketRecord => ({ cell: c, state: 'active', epoch });

/** The follower as the feed sees it: a map the test edits, `ready` once "listed". */
class FakeMarkets implements MarketsSource {
  ready = false;
  /** How often every market was read (a build in full). */
  fullReads = 0;
  constructor(readonly records = new Map<string, MarketRecord>()) {}
  get(id: string) {
    return this.records.get(id);
  }
  entries() {
    this.fullReads++;
    return this.records.entries();
  }
}

const entries = (m: ReadonlyMap<string, MarketRecord>) => [...m].sort(([a], [b]) => a.localeCompare(b));
const ids = (s: ReadonlySet<string> | undefined) => (s === undefined ? undefined : [...s].sort());

/** A view whose every part Consul answered. */
function answeredView(o: ConstructorParameters<typeof FeedView>[0] = { log }) {
  const view = new FeedView(o);
  view.cells = cellMap(cell('c1'), cell('c2'));
  view.endpoints = [ep('c1', 1), ep('c2', 1)];
  view.holdEndpoints = hold;
  Object.assign(view.answered, { cells: true, endpoints: true, hold: true });
  return view;
}

const initial: RoutingView = {
  cells: cellMap(cell('c1'), cell('c2')),
  markets: new Map([
    ['SNAP-1', market('c1')],
    ['SNAP-2', market('c2')],
  ]),
  endpoints: [ep('c1', 1), ep('c2', 1)],
  holdEndpoints: hold,
};

describe('FeedView: what each emit of the xDS feed builds', () => {
  it('assembles nothing until cells, endpoints and hold endpoints are known and (with no initial view) the markets listed', () => {
    const view = new FeedView({ log });
    const markets = new FakeMarkets(new Map([['M-1', market('c1')]]));
    markets.ready = true;
    assert.equal(view.assemble(markets), undefined);
    view.cells = cellMap(cell('c1'));
    assert.equal(view.assemble(markets), undefined);
    view.endpoints = [ep('c1', 1)];
    assert.equal(view.assemble(markets), undefined, 'hold endpoints still unknown');
    view.holdEndpoints = [];
    markets.ready = false;
    assert.equal(view.assemble(markets), undefined, 'markets not listed and no initial view to stand in');
    markets.ready = true;
    const a = view.assemble(markets);
    assert.ok(a);
    assert.deepEqual(entries(a.input.markets), [['M-1', market('c1')]]);
    assert.deepEqual(a.input.endpoints.get('c1'), [ep('c1', 1)]);
    assert.deepEqual(a.input.holdEndpoints, []);
  });

  it('with an initial view serves it at once: its markets, built in full once, then with no changed market, until the markets are listed', () => {
    const view = new FeedView({ log, initial });
    const markets = new FakeMarkets(new Map([['LIVE-1', market('c2')]]));
    const first = view.assemble(markets);
    assert.ok(first, 'a control plane started while Consul is down serves the last good view');
    assert.deepEqual(entries(first.input.markets), entries(initial.markets));
    assert.deepEqual([...first.input.cells.keys()], ['c1', 'c2']);
    assert.deepEqual(first.input.holdEndpoints, hold);
    assert.equal(first.input.changedMarkets, undefined, 'first build: in full');
    assert.equal(first.consulView, undefined);
    view.marketsChanged(['LIVE-1']); // the follower saw something but has not listed everything
    const second = view.assemble(markets);
    assert.ok(second);
    assert.deepEqual(ids(second.input.changedMarkets), [], 'the initial markets did not change');
    assert.deepEqual(entries(second.input.markets), entries(initial.markets));
    assert.equal(markets.fullReads, 0, 'the source is not read before it is ready');
  });

  it('builds in full at the first Consul listing after the initial view, whose markets are then gone', () => {
    const view = new FeedView({ log, initial });
    const markets = new FakeMarkets(new Map([['LIVE-1', market('c2')]]));
    view.assemble(markets);
    markets.ready = true;
    const a = view.assemble(markets);
    assert.ok(a);
    assert.equal(a.input.changedMarkets, undefined);
    assert.deepEqual(entries(a.input.markets), [['LIVE-1', market('c2')]]);
  });

  it('builds the first Consul view in full, then carries exactly the changed IDs, leaving earlier inputs as they were', () => {
    const view = answeredView();
    const markets = new FakeMarkets(
      new Map([
        ['A', market('c1')],
        ['B', market('c1')],
        ['C', market('c2')],
      ]),
    );
    markets.ready = true;
    view.marketsChanged(['A']); // noted before the first build: that build is in full anyway
    const first = view.assemble(markets);
    assert.ok(first);
    assert.equal(first.input.changedMarkets, undefined, 'first build: in full');
    assert.equal(markets.fullReads, 1);

    markets.records.set('A', market('c2', 2)); // moved
    markets.records.delete('B'); // removed
    markets.records.set('D', market('c1')); // new
    markets.records.set('C', market('c1', 9)); // changed in the source but not reported: not built
    assert.deepEqual(
      entries(first.input.markets),
      [
        ['A', market('c1')],
        ['B', market('c1')],
        ['C', market('c2')],
      ],
      'what was built does not follow the source',
    );
    view.marketsChanged(['A', 'B']);
    view.marketsChanged(['D', 'A']);
    const second = view.assemble(markets);
    assert.ok(second);
    assert.deepEqual(ids(second.input.changedMarkets), ['A', 'B', 'D']);
    assert.deepEqual(entries(second.input.markets), [
      ['A', market('c2', 2)],
      ['C', market('c2')],
      ['D', market('c1')],
    ]);
    assert.equal(second.input.markets.size, 3);
    assert.equal(second.input.markets.has('B'), false);
    assert.equal(markets.fullReads, 1, 'only the changed records are read');
    assert.deepEqual(
      entries(first.input.markets),
      [
        ['A', market('c1')],
        ['B', market('c1')],
        ['C', market('c2')],
      ],
      'an earlier input is unchanged',
    );
    assert.equal(first.input.markets.size, 3);

    const third = view.assemble(markets);
    assert.ok(third);
    assert.deepEqual(ids(third.input.changedMarkets), [], 'changes are reported once');
    assert.deepEqual(entries(third.input.markets), entries(second.input.markets));
    view.marketsChanged(['C']);
    const fourth = view.assemble(markets);
    assert.ok(fourth);
    assert.deepEqual(ids(fourth.input.changedMarkets), ['C']);
    assert.deepEqual(fourth.input.markets.get('C'), market('c1', 9));
    assert.deepEqual(second.input.markets.get('C'), market('c2'));
  });

  it('gives a Consul view only when every part answered and the markets come from Consul', () => {
    const view = new FeedView({ log, initial });
    const markets = new FakeMarkets(new Map([['LIVE-1', market('c2')]]));
    Object.assign(view.answered, { cells: true, endpoints: true, hold: true });
    assert.equal(view.assemble(markets)?.consulView, undefined, 'markets still from the initial view');
    markets.ready = true;
    view.answered.hold = false;
    assert.equal(view.assemble(markets)?.consulView, undefined, 'hold endpoints still from the initial view');
    view.answered.hold = true;
    view.answered.cells = false;
    assert.equal(view.assemble(markets)?.consulView, undefined, 'cells still from the initial view');
    view.answered.cells = true;
    view.answered.endpoints = false;
    assert.equal(view.assemble(markets)?.consulView, undefined, 'endpoints still from the initial view');
    view.answered.endpoints = true;
    const cells = cellMap(cell('c2'));
    view.cells = cells;
    view.endpoints = [ep('c2', 4)];
    const a = view.assemble(markets);
    assert.ok(a?.consulView);
    assert.equal(a.consulView.cells, cells);
    assert.deepEqual(a.consulView.endpoints, [ep('c2', 4)]);
    assert.deepEqual(a.consulView.holdEndpoints, hold);
    assert.deepEqual(entries(a.consulView.markets), [['LIVE-1', market('c2')]]);
    assert.equal(a.consulView.markets, a.input.markets, 'the view saved is the one built');
  });

  it('keeps the last passing instances of a cell that lost them, and says when they stop standing in', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const quiet = createLogger('test');
    quiet.level = 'silent';
    const warn = t.mock.method(quiet, 'warn');
    const view = answeredView({ log: quiet, panicMs: 5000, flipGraceMs: 0 });
    const markets = new FakeMarkets();
    markets.ready = true;
    const healthy = view.assemble(markets);
    assert.ok(healthy);
    assert.equal(healthy.nextExpiry, undefined);
    t.mock.timers.tick(1000);
    view.endpoints = [ep('c1', 1)]; // c2 has no passing instance any more
    const panic = view.assemble(markets);
    assert.ok(panic);
    assert.deepEqual(panic.input.endpoints.get('c2'), [ep('c2', 1)], 'the last passing ones');
    assert.deepEqual(panic.input.endpoints.get('c1'), [ep('c1', 1)]);
    assert.equal(panic.nextExpiry, 1_000_000 + 5000, 'last seen passing at the first emit, plus panicMs');
    assert.equal(warn.mock.callCount(), 1, 'entering panic routing is logged');
    t.mock.timers.tick(4001);
    const expired = view.assemble(markets);
    assert.ok(expired);
    assert.equal(expired.input.endpoints.get('c2'), undefined, 'past panicMs: none');
    assert.equal(expired.nextExpiry, undefined);
  });

  it('keeps the previous color of a flipped cell as a fallback, and says when it ends (the earliest of all expiries)', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 2_000_000 });
    const view = answeredView({ log, panicMs: 60_000, flipGraceMs: 10_000 });
    view.endpoints = [ep('c1', 1), ep('c1', 2, 'green'), ep('c2', 1)];
    const markets = new FakeMarkets();
    markets.ready = true;
    assert.equal(view.assemble(markets)?.nextExpiry, undefined);
    t.mock.timers.tick(500);
    view.cells = cellMap(cell('c1', { activeColor: 'green' }), cell('c2'));
    const flipped = view.assemble(markets);
    assert.ok(flipped);
    assert.deepEqual(flipped.input.endpoints.get('c1'), [ep('c1', 2, 'green')]);
    assert.deepEqual(flipped.input.fallbackEndpoints?.get('c1'), [ep('c1', 1)]);
    assert.equal(flipped.nextExpiry, 2_000_500 + 10_000);
    t.mock.timers.tick(500);
    view.endpoints = [ep('c1', 1), ep('c1', 2, 'green')]; // and c2 loses its instances: the flip still ends first
    const both = view.assemble(markets);
    assert.ok(both);
    assert.deepEqual(both.input.endpoints.get('c2'), [ep('c2', 1)]);
    assert.equal(both.nextExpiry, 2_000_500 + 10_000);
  });
});
