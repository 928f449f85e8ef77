/** ConsulProbe: Consul's reachability as the xDS feed reports it, on fake timers and a fake `status.leader` (no Consul). */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { ConsulClient } from '../../shared/consul/client.js';
import { ConsulProbe } from './consul-probe.js';

/** Lets every pending promise callback run (setImmediate is not faked). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Call {
  answer(leader: string): void;
  fail(err: Error): void;
}

/** A probe over fake timers and a fake Consul whose leader calls the test answers by hand. */
function rig(t: TestContext, probeMs = 1000) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const calls: Call[] = [];
  const consul = {
    status: {
      leader: () =>
        new Promise<string>((resolve, reject) => {
          calls.push({ answer: resolve, fail: reject });
        }),
    },
  } as unknown as Pick<ConsulClient, 'status'>;
  const probe = new ConsulProbe(consul, probeMs);
  t.after(() => probe.stop());
  return {
    probe,
    calls,
    async tick(ms: number) {
      t.mock.timers.tick(ms);
      await settle();
    },
  };
}

describe('ConsulProbe: unreachable from a failed watch until a watch answers or a leader does', () => {
  it('is reachable at start and probes nothing', async (t) => {
    const r = rig(t);
    assert.equal(r.probe.reachable, true);
    await r.tick(10_000);
    assert.equal(r.calls.length, 0);
  });

  it('after a failure asks for a leader every probeMs until one answers, then stops', async (t) => {
    const r = rig(t, 1000);
    r.probe.failed();
    assert.equal(r.probe.reachable, false);
    await r.tick(999);
    assert.equal(r.calls.length, 0, 'the first probe waits probeMs');
    await r.tick(1);
    assert.equal(r.calls.length, 1);
    r.calls[0]!.answer(''); // no leader yet: still unreachable
    await settle();
    assert.equal(r.probe.reachable, false);
    await r.tick(999);
    assert.equal(r.calls.length, 1);
    await r.tick(1);
    assert.equal(r.calls.length, 2);
    r.calls[1]!.answer('127.0.0.1:8300');
    await settle();
    assert.equal(r.probe.reachable, true);
    await r.tick(10_000);
    assert.equal(r.calls.length, 2, 'a leader answered: no more probes');
  });

  it('asks again only once the previous probe has answered (one probe at a time)', async (t) => {
    const r = rig(t, 1000);
    r.probe.failed();
    r.probe.failed(); // several watches fail: still one probe chain
    await r.tick(1000);
    assert.equal(r.calls.length, 1);
    await r.tick(5000);
    assert.equal(r.calls.length, 1, 'the leader call has not answered yet');
    r.probe.failed();
    await r.tick(5000);
    assert.equal(r.calls.length, 1);
  });

  it('keeps probing when a probe throws', async (t) => {
    const r = rig(t, 500);
    r.probe.failed();
    await r.tick(500);
    r.calls[0]!.fail(new Error('connect ECONNREFUSED 127.0.0.1:8500'));
    await settle();
    assert.equal(r.probe.reachable, false);
    await r.tick(500);
    assert.equal(r.calls.length, 2);
    r.calls[1]!.fail(new Error('timeout'));
    await settle();
    await r.tick(500);
    assert.equal(r.calls.length, 3);
    r.calls[2]!.answer('127.0.0.1:8300');
    await settle();
    assert.equal(r.probe.reachable, true);
  });

  it('a watch answering marks it reachable and ends the probing', async (t) => {
    const r = rig(t, 1000);
    r.probe.failed();
    await r.tick(500);
    r.probe.answered();
    assert.equal(r.probe.reachable, true);
    await r.tick(10_000);
    assert.equal(r.calls.length, 0);
    r.probe.failed();
    assert.equal(r.probe.reachable, false, 'a later failure makes it unreachable again');
    await r.tick(1000);
    assert.equal(r.calls.length, 1, 'and probes again');
  });

  it('a watch answering while a probe is out ends the probing even when that probe finds no leader', async (t) => {
    const r = rig(t, 1000);
    r.probe.failed();
    await r.tick(1000);
    assert.equal(r.calls.length, 1);
    r.probe.answered();
    r.calls[0]!.fail(new Error('timeout'));
    await settle();
    assert.equal(r.probe.reachable, true);
    await r.tick(10_000);
    assert.equal(r.calls.length, 1, 'reachable: nothing left to probe for');
  });

  it('a failure, an answer and a failure again while a probe is out leave one probe chain', async (t) => {
    const r = rig(t, 1000);
    r.probe.failed();
    await r.tick(1000);
    r.probe.answered();
    r.probe.failed();
    r.calls[0]!.answer('');
    await settle();
    await r.tick(1000);
    assert.equal(r.calls.length, 2, 'one probe per probeMs, not one per chain');
    r.calls[1]!.fail(new Error('timeout'));
    await settle();
    await r.tick(1000);
    assert.equal(r.calls.length, 3);
  });

  it('stop() ends the probing', async (t) => {
    const r = rig(t, 1000);
    r.probe.failed();
    r.probe.stop();
    await r.tick(10_000);
    assert.equal(r.calls.length, 0);
  });

  it('stop() while a probe is out: its answer asks no more, and later failures probe nothing', async (t) => {
    const s = rig(t, 1000);
    s.probe.failed();
    await s.tick(1000);
    s.probe.stop();
    s.calls[0]!.answer('');
    await s.tick(10_000);
    assert.equal(s.calls.length, 1, 'the answer of the probe out asks no more');
    s.probe.failed();
    await s.tick(10_000);
    assert.equal(s.calls.length, 1, 'stopped: a failure probes no more');
  });
});
