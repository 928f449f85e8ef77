import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OutlierDetector } from './outlier.js';
import { RetryBudget } from './retry-budget.js';

describe('outlier detection', () => {
  it('ejects an endpoint after consecutive transport failures, for longer each time', () => {
    let t = 0;
    const o = new OutlierDetector({ consecutiveTransport: 2, baseEjectMs: 100, now: () => t });
    assert.equal(o.record('a', 'transport', 4), false);
    assert.equal(o.record('a', 'transport', 4), true);
    assert.equal(o.isEjected('a'), true);
    t = 100;
    assert.equal(o.isEjected('a'), false);
    o.record('a', 'transport', 4);
    o.record('a', 'transport', 4);
    t = 299;
    assert.equal(o.isEjected('a'), true, 'second ejection lasts 200 ms');
  });

  it('never ejects more than the allowed share of a cell, and a success resets the count', () => {
    const o = new OutlierDetector({ consecutiveTransport: 1, maxEjectedPercent: 50 });
    assert.equal(o.record('only', 'transport', 1), false, 'the single endpoint of a cell stays');
    assert.equal(o.record('a', 'transport', 2), true);
    assert.equal(o.record('b', 'transport', 2), false, 'second of two would be 100%');
    const p = new OutlierDetector({ consecutive5xx: 2 });
    p.record('x', 'status', 4);
    p.record('x', 'ok', 4);
    assert.equal(p.record('x', 'status', 4), false);
  });
});

describe('retry budget', () => {
  it('allows retries in proportion to requests, plus a floor per second', () => {
    let t = 0;
    const b = new RetryBudget({ ratio: 0.25, minPerSecond: 2, max: 100, now: () => t });
    let granted = 0;
    while (b.withdraw()) granted += 1;
    assert.equal(granted, 2, 'the floor');
    for (let i = 0; i < 100; i++) b.deposit();
    granted = 0;
    while (b.withdraw()) granted += 1;
    assert.equal(granted, 25, '25% of 100 requests');
    t = 1000;
    assert.equal(b.withdraw(), true, 'the floor refills with time');
  });
});
