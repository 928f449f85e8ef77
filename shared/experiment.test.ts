import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { experimentArm, experimentBucket, experimentKey, experimentLive, experimentThreshold, fnv1a32 } from './experiment.js';
import { MarketRecordSchema, decodeJson } from './kv.js';

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
});
