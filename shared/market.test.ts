import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extractMarket, isMarketId } from './market.js';

describe('market id rules', () => {
  const cases: [string | string[] | undefined, string][] = [
    [undefined, 'missing_market'],
    ['', 'missing_market'],
    [[], 'missing_market'],
    ['SF', 'invalid_market'],
    ['san francisco', 'invalid_market'],
    ['-sf', 'invalid_market'],
    ['a'.repeat(64), 'invalid_market'],
    [['sf', 'nyc'], 'invalid_market'],
    ['sf,nyc', 'invalid_market'],
    ['../etc', 'invalid_market'],
    ['sf\u00e9', 'invalid_market'],
  ];
  for (const [raw, code] of cases) {
    it(`refuses ${JSON.stringify(raw)} as ${code}`, () => {
      const r = extractMarket(raw);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.code, code);
    });
  }
  it('accepts lower-case ids with digits and dashes up to 63 chars', () => {
    for (const id of ['sf', 'us-sf-1', '0', 'a'.repeat(63)]) {
      assert.deepEqual(extractMarket(id), { ok: true, market: id });
      assert.ok(isMarketId(id));
    }
    assert.deepEqual(extractMarket(['sf']), { ok: true, market: 'sf' });
  });
});
