import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker, Permit } from './breaker.js';
import { StallDetector } from './stall.js';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('stall detector', () => {
  it('calls a cell stalled once a request waited stallMs with no answer from the cell since', () => {
    const c = clock();
    const s = new StallDetector({ stallMs: 750, now: c.now });
    s.begin();
    c.t += 300;
    s.begin();
    c.t += 449;
    assert.equal(s.stalled(), false);
    c.t += 1;
    assert.equal(s.stalled(), true);
    assert.equal(s.waitingCount, 2);
  });

  it('does not call a slow cell stalled while it keeps answering (answers under stallMs)', () => {
    const c = clock();
    const s = new StallDetector({ stallMs: 750, now: c.now });
    // 700 ms answers, a request every 100 ms, from the onset of the latency.
    const open: { token: number; at: number }[] = [];
    for (let t = 0; t < 5000; t += 50) {
      c.t = 1_000_000 + t;
      while (open.length > 0 && open[0]!.at + 700 <= t) s.settle(open.shift()!.token, true);
      assert.equal(s.stalled(), false, `stalled at ${t} ms`);
      if (t % 100 === 0) open.push({ token: s.begin(), at: t });
    }
  });

  it('is no longer stalled once the cell answers, or once its waiting requests timed out or were aborted', () => {
    const c = clock();
    const s = new StallDetector({ stallMs: 500, now: c.now });
    const a = s.begin();
    const b = s.begin();
    c.t += 600;
    assert.equal(s.stalled(), true);
    s.settle(a, true);
    assert.equal(s.stalled(), false, 'an answer is progress');
    c.t += 500;
    assert.equal(s.stalled(), true, 'b still waits and nothing answered for 500 ms');
    s.settle(b, false);
    assert.equal(s.stalled(), false, 'nothing waits any more');
    assert.equal(s.silentMs(), 0);
  });

  it('a timeout is not an answer: the next request still counts the silence from the last real answer', () => {
    const c = clock();
    const s = new StallDetector({ stallMs: 500, now: c.now });
    const a = s.begin();
    c.t += 400;
    s.begin(); // b
    s.settle(a, false);
    c.t += 499;
    assert.equal(s.stalled(), false, 'b has waited 499 ms');
    c.t += 1;
    assert.equal(s.stalled(), true);
  });

  it('stallMs 0 turns detection off', () => {
    const c = clock();
    const s = new StallDetector({ stallMs: 0, now: c.now });
    s.begin();
    c.t += 60_000;
    assert.equal(s.stalled(), false);
  });
});

describe('circuit breaker forced open (stalled cell)', () => {
  it('opens a closed breaker, and from half-open doubles the open period like a failed probe', () => {
    const c = clock();
    const b = new CircuitBreaker({ openMs: 1000, now: c.now });
    b.forceOpen();
    assert.equal(b.state, 'open');
    assert.equal(b.acquire(), Permit.Rejected);
    c.t += 1000;
    assert.equal(b.acquire(), Permit.Probe);
    b.forceOpen();
    assert.equal(b.state, 'open');
    c.t += 1999;
    assert.equal(b.acquire(), Permit.Rejected, 'open for 2 s after the stalled probe');
    b.forceOpen();
    assert.equal(b.retryAfterSeconds(), 1, 'forcing an open breaker changes nothing');
    c.t += 1;
    assert.equal(b.acquire(), Permit.Probe);
  });
});

describe('stall threshold follows the cell latency', () => {
  /** Feeds `n` answers of `ms` each into `s`. */
  function answers(s: StallDetector, c: { t: number }, n: number, ms: number) {
    for (let i = 0; i < n; i++) {
      const t = s.begin();
      c.t += ms;
      s.settle(t, true);
    }
  }

  it('uses stallMs until the cell has answered enough to judge, then factor × p90 (at least minStallMs)', () => {
    const c = clock();
    const s = new StallDetector({ stallMs: 750, minStallMs: 400, factor: 3, now: c.now });
    assert.equal(s.thresholdMs(), 750, 'no answers yet');
    answers(s, c, 7, 20);
    assert.equal(s.thresholdMs(), 750, '7 answers are not enough');
    answers(s, c, 1, 20);
    assert.equal(s.thresholdMs(), 400, 'a fast cell: the lowest bound');
    answers(s, c, 64, 200);
    assert.equal(s.thresholdMs(), 600, 'a slower cell (200 ms): 3 × p90');
    answers(s, c, 64, 400);
    assert.equal(s.thresholdMs(), 750, 'never above stallMs');
  });

  it('calls a normally fast cell that stops answering stalled after minStallMs, not stallMs', () => {
    const c = clock();
    const s = new StallDetector({ stallMs: 750, minStallMs: 400, now: c.now });
    answers(s, c, 32, 25);
    s.begin();
    c.t += 399;
    assert.equal(s.stalled(), false);
    c.t += 1;
    assert.equal(s.stalled(), true, 'hung for 400 ms');
  });

  it('never calls a steadily slow cell stalled while it keeps answering (600 ± 100 ms answers, a request every 100 ms)', () => {
    const c = clock(0);
    const s = new StallDetector({ stallMs: 750, minStallMs: 400, now: c.now });
    const open: { token: number; at: number }[] = [];
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 200 - 100;
    for (let t = 0; t < 20_000; t += 10) {
      c.t = t;
      open.sort((a, b) => a.at - b.at);
      while (open.length > 0 && open[0]!.at <= t) s.settle(open.shift()!.token, true);
      if (t >= 3000) assert.equal(s.stalled(), false, `stalled at ${t} ms (threshold ${s.thresholdMs()})`);
      if (t % 100 === 0) open.push({ token: s.begin(), at: t + 600 + rand() });
    }
    assert.equal(s.thresholdMs(), 750, 'a slow cell is judged by stallMs');
  });
});

describe('circuit breaker forced open by a stall', () => {
  it('closes on the first answer after all (a slow cell, not a hung one)', () => {
    const c = clock();
    const b = new CircuitBreaker({ openMs: 1000, now: c.now });
    const permit = b.acquire();
    b.forceOpen();
    assert.equal(b.acquire(), Permit.Rejected);
    c.t += 200;
    b.success(permit);
    assert.equal(b.state, 'closed');
    assert.equal(b.acquire(), Permit.Normal);
  });

  it('stays open when opened by failures, whatever answers come late', () => {
    const c = clock();
    const b = new CircuitBreaker({ consecutiveFailures: 2, openMs: 1000, now: c.now });
    const p = b.acquire();
    b.failure(p, 'transport');
    b.failure(p, 'transport');
    assert.equal(b.state, 'open');
    b.success(p);
    assert.equal(b.state, 'open');
  });
});
