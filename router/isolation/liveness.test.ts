import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Liveness, type ProbeAnswer } from './liveness.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('liveness of a stalled cell', () => {
  it('says alive once a probe sent after the cell went silent is answered', async () => {
    const c = { t: 10_000 };
    const l = new Liveness({ probeTimeoutMs: 250, now: () => c.t });
    let probes = 0;
    const probe = async () => (probes++, true);
    assert.equal(l.check(9_000, probe), 'pending');
    assert.equal(l.check(9_000, probe), 'pending', 'one probe at a time');
    await tick();
    assert.equal(l.check(9_000, probe), 'pending', 'an answer counts once it is settleMs old');
    c.t += 99;
    assert.equal(l.check(9_000, probe), 'pending');
    c.t += 1;
    assert.equal(l.check(9_000, probe), 'alive');
    assert.equal(probes, 1);
    assert.equal(l.check(10_101, probe), 'pending', 'a probe from before the new silence does not count');
  });

  it('says silent when the probe goes unanswered for probeTimeoutMs (a blocked event loop)', async () => {
    const c = { t: 10_000 };
    const l = new Liveness({ probeTimeoutMs: 250, now: () => c.t });
    let answer: (v: boolean) => void = () => undefined;
    const probe = () => new Promise<boolean>((r) => (answer = r));
    assert.equal(l.check(9_000, probe), 'pending');
    c.t += 249;
    assert.equal(l.check(9_000, probe), 'pending');
    c.t += 1;
    assert.equal(l.check(9_000, probe), 'silent');
    answer(false);
    await tick();
    assert.equal(l.check(9_000, probe), 'silent', 'a failed probe is no sign of life; another one is started');
  });
});

describe('panic routing (CellGuard.endpoints)', () => {
  it('keeps the last passing endpoints for panicMs when none passes, then gives up', async () => {
    const { CellGuard } = await import('./index.js');
    const { createRouterMetrics } = await import('../metrics.js');
    const { Registry } = await import('prom-client');
    const g = new CellGuard('cell-x', 10, { panicMs: 1000 }, createRouterMetrics(new Registry()));
    const ep = { id: 'e1', address: '127.0.0.1', port: 1, cell: 'cell-x', color: 'blue', version: 'v1' } as never;
    assert.deepEqual(g.endpoints([], 0), [], 'never had one: none');
    assert.deepEqual(g.endpoints([ep], 100), [ep]);
    assert.deepEqual(g.endpoints([], 1100), [ep], 'no passing instance: the last ones');
    assert.equal(g.panicking, true);
    assert.deepEqual(g.endpoints([], 1101), [], 'past panicMs');
    assert.equal(g.panicking, false);
  });

  it('probes the cell at once when an instance passes again after panic routing', async () => {
    const { CellGuard, Permit } = await import('./index.js');
    const { createRouterMetrics } = await import('../metrics.js');
    const { Registry } = await import('prom-client');
    const g = new CellGuard('cell-y', 10, {}, createRouterMetrics(new Registry()));
    const ep = { id: 'e1', address: '127.0.0.1', port: 1, cell: 'cell-y', color: 'blue', version: 'v1' } as never;
    g.endpoints([ep]);
    g.endpoints([]);
    g.breaker.forceOpen();
    assert.equal(g.breaker.acquire(), Permit.Rejected, 'open while the cell is down');
    g.endpoints([ep]);
    assert.equal(g.breaker.acquire(), Permit.Probe, 'half-open at once');
  });

  it('says unreachable when the last probe opened no connection (a cut host), not silent', async () => {
    const c = { t: 10_000 };
    const l = new Liveness({ probeTimeoutMs: 250, now: () => c.t });
    let answer: (v: ProbeAnswer) => void = () => undefined;
    const probe = () => new Promise<ProbeAnswer>((r) => (answer = r));
    assert.equal(l.check(9_000, probe), 'pending');
    c.t += 100;
    answer('unreachable');
    await tick();
    assert.equal(l.check(9_000, probe), 'unreachable', 'known before probeTimeoutMs');
    c.t = 10_300;
    assert.equal(l.check(10_200, probe), 'pending', 'a new silence asks again');
    answer(false);
    await tick();
    c.t += 250;
    assert.equal(l.check(10_200, probe), 'silent', 'a connection opened: busy, not cut');
  });
});
