import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker, Permit } from './breaker.js';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('circuit breaker', () => {
  it('opens after consecutive transport failures and rejects until the open period ends', () => {
    const c = clock();
    const b = new CircuitBreaker({ consecutiveFailures: 3, openMs: 1000, now: c.now });
    for (let i = 0; i < 3; i++) b.failure(b.acquire(), 'transport');
    assert.equal(b.state, 'open');
    assert.equal(b.acquire(), Permit.Rejected);
    assert.equal(b.retryAfterSeconds(), 1);
    c.t += 999;
    assert.equal(b.acquire(), Permit.Rejected);
  });

  it('lets one probe through when half-open and closes on its success', () => {
    const c = clock();
    const b = new CircuitBreaker({ consecutiveFailures: 1, openMs: 500, now: c.now });
    b.failure(b.acquire(), 'transport');
    c.t += 500;
    const probe = b.acquire();
    assert.equal(probe, Permit.Probe);
    assert.equal(b.state, 'half-open');
    assert.equal(b.acquire(), Permit.Rejected, 'a second request waits for the probe');
    b.success(probe);
    assert.equal(b.state, 'closed');
    assert.equal(b.acquire(), Permit.Normal);
  });

  it('reopens for twice as long when the probe fails, up to the cap', () => {
    const c = clock();
    const b = new CircuitBreaker({ consecutiveFailures: 1, openMs: 1000, maxOpenMs: 3000, now: c.now });
    b.failure(b.acquire(), 'transport');
    for (const expected of [2000, 3000, 3000]) {
      c.t += 5000;
      b.failure(b.acquire(), 'transport');
      assert.equal(b.state, 'open');
      c.t += expected - 1;
      assert.equal(b.acquire(), Permit.Rejected);
      c.t += 1;
      const p = b.acquire();
      assert.equal(p, Permit.Probe);
      b.release(p);
    }
  });

  it('does not trip on a 20% error rate of 5xx answers, but does at 60%', () => {
    const c = clock();
    const low = new CircuitBreaker({ now: c.now });
    for (let i = 0; i < 1000; i++) {
      const p = low.acquire();
      if (i % 5 === 0) low.failure(p, 'status');
      else low.success(p);
      c.t += 1;
    }
    assert.equal(low.state, 'closed');
    const high = new CircuitBreaker({ now: c.now });
    for (let i = 0; i < 40 && high.state === 'closed'; i++) {
      const p = high.acquire();
      if (i % 5 < 3) high.failure(p, 'status');
      else high.success(p);
    }
    assert.equal(high.state, 'open');
  });

  it('reports state changes to its listener', () => {
    const c = clock();
    const seen: string[] = [];
    const b = new CircuitBreaker({ consecutiveFailures: 1, openMs: 10, now: c.now }, (s) => seen.push(s));
    b.failure(b.acquire(), 'transport');
    c.t += 10;
    b.success(b.acquire());
    assert.deepEqual(seen, ['open', 'half-open', 'closed']);
  });
});
