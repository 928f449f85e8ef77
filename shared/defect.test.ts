import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DefectSchema } from './defect.js';

describe('DefectSchema', () => {
  it('accepts an error rate on a route, or a latency alone', () => {
    assert.ok(DefectSchema.safeParse({ route: 'POST /v1/orders', errorRate: 0.2 }).success);
    assert.ok(DefectSchema.safeParse({ latencyMs: 50 }).success);
  });

  it('refuses a defect that does nothing, an unknown key and an out-of-range rate', () => {
    assert.equal(DefectSchema.safeParse({ route: 'POST /v1/orders' }).success, false);
    assert.equal(DefectSchema.safeParse({ errorRate: 0.1, extra: 1 }).success, false);
    assert.equal(DefectSchema.safeParse({ errorRate: 3 }).success, false);
  });
});
