import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Traffic } from './prom.js';
import { judge, latencyQuantile } from './slo.js';

/** `fast` requests under 50 ms and `slow` ones between 250 and 500 ms, `errors` of them 5xx. */
function traffic(fast: number, slow: number, errors = 0): Traffic {
  const n = fast + slow;
  return {
    requests: n,
    errors,
    buckets: new Map([
      [0.05, fast],
      [0.25, fast],
      [0.5, n],
      [Infinity, n],
    ]),
  };
}

describe('canary verdict', () => {
  const baseline = traffic(400, 0);

  it('does not call one slow request among a few dozen a latency breach, but two', () => {
    const one = judge(traffic(39, 1), baseline);
    assert.equal(one.pass, true, one.reason);
    const two = judge(traffic(38, 2), baseline);
    assert.equal(two.pass, false);
    assert.match(two.reason, /^p99 500 ms vs baseline 50 ms/);
  });

  it('judges p99 proper from 100 requests on, and errors whatever the latency', () => {
    assert.equal(latencyQuantile(40), 0.975);
    assert.equal(latencyQuantile(1000), 0.99);
    assert.equal(judge(traffic(989, 11), baseline).pass, false, 'over 1% slow: the p99 is slow');
    assert.equal(judge(traffic(990, 10), baseline).pass, true, '1% slow: the p99 is still fast');
    const errors = judge(traffic(40, 0, 8), baseline);
    assert.equal(errors.pass, false);
    assert.match(errors.reason, /^error rate 20\.0% vs baseline 0\.0%/);
  });

  it('calls too little traffic inconclusive (the runner decides what an idle bake means)', () => {
    const v = judge(traffic(10, 9, 9), baseline);
    assert.equal(v.pass, true);
    assert.match(v.reason, /^inconclusive: 19 requests \(< 20\)/);
  });

  it('judges each route on its own: failed creates diluted below the threshold of all routes are a breach', () => {
    // the drill's v2-bad: 3 of 15 creates fail (20 %), 231 reads succeed: 1.2 % of all requests
    const wave = {
      ...traffic(246, 0, 3),
      routes: new Map([
        ['POST /v1/orders', { requests: 15, errors: 3 }],
        ['GET /v1/orders', { requests: 231, errors: 0 }],
      ]),
    };
    const base = {
      ...traffic(800, 0),
      routes: new Map([
        ['POST /v1/orders', { requests: 50, errors: 0 }],
        ['GET /v1/orders', { requests: 750, errors: 0 }],
      ]),
    };
    const v = judge(wave, base);
    assert.equal(v.pass, false);
    assert.match(v.reason, /^POST \/v1\/orders: error rate 20\.0% \(3 of 15\)/);
    assert.equal(judge({ ...wave, routes: undefined }, base).pass, true, 'without routes the diluted rate passes (the old verdict)');
  });

  it('does not judge a route on a single failure, nor one that fails as often as in the baseline', () => {
    const one = { ...traffic(246, 0, 1), routes: new Map([['POST /v1/orders', { requests: 15, errors: 1 }]]) };
    assert.equal(judge(one, baseline).pass, true);
    const same = { ...traffic(246, 0, 3), routes: new Map([['POST /v1/orders', { requests: 15, errors: 3 }]]) };
    const flaky = { ...traffic(800, 0, 10), routes: new Map([['POST /v1/orders', { requests: 50, errors: 10 }]]) };
    assert.equal(judge(same, flaky).pass, true, 'the baseline fails its creates as often');
  });
});
