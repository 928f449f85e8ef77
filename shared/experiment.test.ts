import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  experimentArm,
  experimentBucket,
  experimentKey,
  experimentLive,
  experimentThreshold,
  fnv1a32,
  shareMoveTakes,
  shareMoveTarget,
} from './experiment.js';
import { MarketRecordSchema, decodeJson, type CellRecord, type MarketRecord } from './kv.js';
import type { Endpoint } from './routing-table.js';
import { RoutingStore } from './routing-store.js';

const CELL = { id: 'cell-1', state: 'active', canary: false, global: false, capacity: 1, version: 'v1' } as const;

describe('experiment hash and rules', () => {
  it('is 32-bit FNV-1a (the published test vectors)', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
    assert.equal(experimentBucket('foobar'), 0xbf9cf968 % 10_000);
  });

  it('splits by hundredths of a percent and keys only one non-empty value', () => {
    assert.equal(experimentThreshold(12.345), 1235);
    assert.equal(experimentThreshold(0), 0);
    assert.equal(experimentThreshold(100), 10_000);
    const spec = { header: 'x-customer-id', color: 'green', percent: 0 } as const;
    assert.equal(experimentArm(spec, 'foobar'), 'control');
    assert.equal(experimentArm({ ...spec, percent: 100 }, 'foobar'), 'variant');
    assert.equal(experimentKey(undefined), undefined);
    assert.equal(experimentKey(''), undefined);
    assert.equal(experimentKey(['a', 'b']), undefined);
    assert.equal(experimentKey(['a']), 'a');
    assert.equal(experimentKey('c-1'), 'c-1');
  });

  it('is live only beside an active color of the other color', () => {
    const spec = { header: 'x-customer-id', color: 'green', percent: 10 } as const;
    assert.equal(experimentLive(spec, { ...CELL, activeColor: 'blue' }), true);
    assert.equal(experimentLive(spec, { ...CELL, activeColor: 'green' }), false);
    assert.equal(experimentLive(spec, CELL), false);
    assert.equal(experimentLive(undefined, { ...CELL, activeColor: 'blue' }), false);
  });

  it('the market record takes an experiment and refuses a bad one', () => {
    const ok = { cell: 'cell-1', state: 'active', epoch: 1, experiment: { header: 'x-customer-id', color: 'green', percent: 10 } };
    assert.equal(decodeJson(MarketRecordSchema, JSON.stringify(ok)).ok, true);
    for (const header of ['x-market-id', 'x-cellsim-arm', 'X-Customer', 'a b', '']) {
      const bad = { ...ok, experiment: { ...ok.experiment, header } };
      assert.equal(decodeJson(MarketRecordSchema, JSON.stringify(bad)).ok, false, header);
    }
    assert.equal(decodeJson(MarketRecordSchema, JSON.stringify({ ...ok, experiment: { ...ok.experiment, percent: 101 } })).ok, false);
    assert.equal(decodeJson(MarketRecordSchema, JSON.stringify({ ...ok, experiment: { ...ok.experiment, extra: 1 } })).ok, false);
  });

  it('the market record takes a share move and refuses a bad one', () => {
    const ok = { cell: 'cell-1', state: 'active', epoch: 1, shareMove: { to: 'cell-2', header: 'x-customer-id', percent: 12.34 } };
    assert.equal(decodeJson(MarketRecordSchema, JSON.stringify(ok)).ok, true);
    const bad: [string, unknown][] = [
      ['header x-market-id', { ...ok.shareMove, header: 'x-market-id' }],
      ['header x-envoy-*', { ...ok.shareMove, header: 'x-envoy-original-path' }],
      ['header upper case', { ...ok.shareMove, header: 'X-Customer' }],
      ['percent 101', { ...ok.shareMove, percent: 101 }],
      ['percent -1', { ...ok.shareMove, percent: -1 }],
      ['percent 1.234', { ...ok.shareMove, percent: 1.234 }],
      ['to the owning cell', { ...ok.shareMove, to: 'cell-1' }],
      ['to a malformed id', { ...ok.shareMove, to: 'Cell/2' }],
      ['an extra field', { ...ok.shareMove, extra: 1 }],
      ['no to', { header: 'x-customer-id', percent: 1 }],
    ];
    for (const [what, shareMove] of bad) {
      const d = decodeJson(MarketRecordSchema, JSON.stringify({ ...ok, shareMove }));
      assert.equal(d.ok, false, what);
    }
    const both = { ...ok, experiment: { header: 'x-customer-id', color: 'green', percent: 10 } };
    const d = decodeJson(MarketRecordSchema, JSON.stringify(both));
    assert.equal(d.ok, false, 'an experiment beside a share move');
    assert.match(d.ok ? '' : d.problems.join('; '), /not both/);
  });

  it("a share move's keys below the threshold go to the target, and only while it can serve", () => {
    const sm = { to: 'cell-2', header: 'x-customer-id', percent: 30.25 } as const;
    const edge = (b: number) => {
      for (let i = 0; ; i++) if (experimentBucket(`k-${i}`) === b) return `k-${i}`;
    };
    assert.equal(shareMoveTakes(sm, edge(3024)), true);
    assert.equal(shareMoveTakes(sm, edge(3025)), false, 'the threshold bucket stays');
    assert.equal(shareMoveTakes({ ...sm, percent: 0 }, edge(0)), false);
    assert.equal(shareMoveTakes({ ...sm, percent: 100 }, edge(9999)), true);

    const rec: MarketRecord = { cell: 'cell-1', state: 'active', epoch: 1, shareMove: sm };
    const cells = new Map<string, CellRecord>([
      ['cell-1', { ...CELL }],
      ['cell-2', { ...CELL, id: 'cell-2' }],
    ]);
    const ep: Endpoint = { id: 'c2', cell: 'cell-2', address: '127.0.0.1', port: 1, version: 'v1', color: 'blue' };
    const passing = new Map([['cell-2', [ep]]]);
    assert.equal(shareMoveTarget(rec, cells, passing), 'cell-2');
    assert.equal(shareMoveTarget(rec, cells), 'cell-2', 'endpoints not checked when not given');
    assert.equal(shareMoveTarget(rec, cells, new Map()), undefined, 'no passing instance');
    assert.equal(shareMoveTarget(rec, new Map([['cell-1', CELL]]), passing), undefined, 'target missing from cells/');
    const down = new Map(cells).set('cell-2', { ...CELL, id: 'cell-2', state: 'down' });
    assert.equal(shareMoveTarget(rec, down, passing), undefined, 'target down');
    assert.equal(shareMoveTarget({ ...rec, state: 'frozen' }, cells, passing), undefined, 'a frozen market is held whole');
    assert.equal(shareMoveTarget({ cell: 'cell-1', state: 'active', epoch: 1 }, cells, passing), undefined);
  });

  it('the routing store keeps a share move on its record and announces its changes', () => {
    const store = new RoutingStore();
    const rec: MarketRecord = {
      cell: 'cell-1',
      state: 'active',
      epoch: 1,
      shareMove: { to: 'cell-2', header: 'x-customer-id', percent: 10 },
    };
    assert.deepEqual(
      store.applyMarkets([
        ['m-1', rec],
        ['m-2', { cell: 'cell-1', state: 'active', epoch: 1 }],
      ]),
      ['m-1', 'm-2'],
    );
    assert.deepEqual(store.markets.get('m-1')!.shareMove, rec.shareMove);
    assert.equal(store.markets.get('m-2')!.shareMove, undefined, 'not shared with a plain record of the same cell');
    assert.deepEqual(store.applyMarkets([['m-1', { ...rec, shareMove: { ...rec.shareMove!, percent: 10 } }]]), [], 'unchanged');
    assert.deepEqual(store.applyMarkets([['m-1', { ...rec, shareMove: { ...rec.shareMove!, percent: 50 } }]]), ['m-1']);
    assert.equal(store.markets.get('m-1')!.shareMove!.percent, 50);
  });
});
