import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CircuitBreaker } from './breaker.js';
import { Liveness } from './liveness.js';
import { StallDetector } from './stall.js';
import { judgeStall, nextLookMs, StallWatch, type StallCut, type StallSubject } from './stall-watch.js';

function subject(stallMs: number, settleMs = 20): StallSubject {
  return {
    stall: new StallDetector({ stallMs, minStallMs: stallMs }),
    liveness: new Liveness({ probeTimeoutMs: 50, settleMs }),
    breaker: new CircuitBreaker(),
    busyMs: 1000,
  };
}

describe('stall watch: a stalled cell is cut off on a timer, not when the next request comes', () => {
  it('opens the breaker once the threshold passed and the probe was answered, with no further request', async (t) => {
    // On mocked time (setTimeout and Date): a CI run once saw this process stall for 31 s, and a
    // wall-clock bound cannot tell that from a late cut.
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const advance = async (ms: number) => {
      for (let i = 0; i < ms; i++) {
        t.mock.timers.tick(1);
        for (let k = 0; k < 5; k++) await Promise.resolve(); // let an answered probe settle
      }
    };
    const g = subject(120);
    const cuts: StallCut[] = [];
    let probes = 0;
    g.stall.begin();
    new StallWatch(g).arm(
      async () => (probes++, true),
      (c) => cuts.push(c),
    );
    await advance(60);
    assert.equal(g.breaker.state, 'closed', 'not before the threshold');
    await advance(100);
    assert.equal(g.breaker.state, 'open');
    assert.equal(cuts.length, 1);
    assert.equal(cuts[0]!.process, 'alive');
    assert.ok(cuts[0]!.silentMs >= 120 && cuts[0]!.silentMs < 160, `cut after ${cuts[0]!.silentMs} ms silent`);
    assert.equal(probes, 1, 'one probe, sent at half the threshold');
  });

  it('opens the breaker at the threshold, not after busyMs, when no connection to the cell opens (a cut host)', async () => {
    const g = subject(120);
    const cuts: StallCut[] = [];
    g.stall.begin();
    new StallWatch(g).arm(
      async () => 'unreachable' as const,
      (c) => cuts.push(c),
    );
    await sleep(300);
    assert.equal(g.breaker.state, 'open', 'cut well before busyMs (1000 ms)');
    assert.equal(cuts.length, 1);
    assert.equal(cuts[0]!.process, 'unreachable');
    assert.ok(cuts[0]!.silentMs >= 120 && cuts[0]!.silentMs < 250, `cut after ${cuts[0]!.silentMs} ms silent`);
  });

  it('does not cut off a cell that answers, nor one whose process is silent (busy) before busyMs', async () => {
    const answering = subject(80);
    const cuts: StallCut[] = [];
    const w = new StallWatch(answering);
    for (let i = 0; i < 6; i++) {
      const token = answering.stall.begin();
      w.arm(
        async () => true,
        (c) => cuts.push(c),
      );
      await sleep(30);
      answering.stall.settle(token, true);
    }
    assert.equal(nextLookMs(answering), undefined, 'nothing waits: no timer');
    const busy = subject(80);
    busy.stall.begin();
    new StallWatch(busy).arm(
      () => new Promise<boolean>(() => undefined),
      (c) => cuts.push(c),
    );
    await sleep(300);
    assert.deepEqual(cuts, []);
    assert.equal(busy.breaker.state, 'closed');
  });

  it('does not call a cell hung when the probe is answered just before the queued requests (a loop that freed up)', () => {
    const c = { t: 1_000_000 };
    const g: StallSubject = {
      stall: new StallDetector({ stallMs: 300, minStallMs: 300, now: () => c.t }),
      liveness: new Liveness({ probeTimeoutMs: 250, settleMs: 100, now: () => c.t }),
      breaker: new CircuitBreaker(),
      busyMs: 3000,
    };
    let answer: (v: boolean) => void = () => undefined;
    const probe = () => new Promise<boolean>((r) => (answer = r));
    const token = g.stall.begin();
    c.t += 150;
    assert.equal(judgeStall(g, probe, c.t), undefined, 'probe sent at half the threshold');
    c.t += 450; // the loop was blocked 600 ms; now the probe is answered first
    answer(true);
    return Promise.resolve().then(() => {
      assert.equal(judgeStall(g, probe, c.t), undefined, 'answer not settled yet');
      c.t += 5;
      g.stall.settle(token, true); // the queued request is answered right after
      assert.equal(judgeStall(g, probe, c.t), undefined);
      assert.equal(g.stall.silentMs(), 0);
    });
  });
});
