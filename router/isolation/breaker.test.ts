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

  it('cut as unreachable: no client request goes as the half-open probe until a TCP connect succeeds', () => {
    const c = clock();
    const b = new CircuitBreaker({ openMs: 1000, now: c.now });
    b.forceOpen(true);
    assert.equal(b.connectDue(), false, 'not during the open period');
    c.t += 1000;
    assert.equal(b.acquire(), Permit.Rejected, 'no client request as the probe of a cut host');
    assert.equal(b.connectDue(), true, 'a connect probe instead');
    assert.equal(b.connectDue(), false, 'one at a time');
    assert.equal(b.acquire(), Permit.Rejected, 'rejected while it connects');
    b.connected(false);
    assert.equal(b.state, 'open');
    assert.equal(b.retryAfterSeconds(), 1, 'open again for the first period, not doubled');
    c.t += 999;
    assert.equal(b.connectDue(), false);
    c.t += 1;
    assert.equal(b.connectDue(), true);
    b.connected(true);
    const probe = b.acquire();
    assert.equal(probe, Permit.Probe, 'once a connection opens, the next request is the probe');
    b.success(probe);
    assert.equal(b.state, 'closed');
    b.forceOpen();
    c.t += 1000;
    assert.equal(b.connectDue(), false, 'a stall cut that is not unreachable probes with a request as before');
    assert.equal(b.acquire(), Permit.Probe);
  });

  it('cut as unreachable while already open (tripped by failures): marked, and cleared by the next trip', () => {
    const c = clock();
    const b = new CircuitBreaker({ consecutiveFailures: 1, openMs: 1000, now: c.now });
    b.failure(b.acquire(), 'transport');
    b.forceOpen(true);
    c.t += 1000;
    assert.equal(b.acquire(), Permit.Rejected);
    assert.equal(b.connectDue(), true);
    b.connected(true);
    const probe = b.acquire();
    assert.equal(probe, Permit.Probe);
    b.failure(probe, 'transport');
    c.t += 2000;
    assert.equal(b.connectDue(), false, 'a failed client probe trips as usual: its next probe is a request');
    assert.equal(b.acquire(), Permit.Probe);
  });
});
