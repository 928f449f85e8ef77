/**
 * The delivery-down drill's own verdicts on crafted facts: the backlog must have built up and
 * drained in time, and the "accepted" verdict names the delivery service. The real run is in
 * loadtest/drill-kafka.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DRAINED_MAX, drainVerdict, followDrain, type BacklogFacts } from './delivery-lag.js';
import { acceptedWhileDown } from './kafka-catch-up.js';

describe('delivery-down verdicts', () => {
  it('passes a backlog that built up and drained in time', () => {
    const v = drainVerdict({ atHeal: 40, backAt: 1000, drainedAt: 9000, last: 0 }, 'cell-1', 60_000);
    assert.equal(v.pass, true, v.measured);
    assert.equal(v.name, 'delivery backlog of cell-1 drained after the window');
  });

  it('fails no backlog (the positive control), no drain, a late drain, and an unread backlog', () => {
    const cases: BacklogFacts[] = [
      { atHeal: 0, backAt: 1000, drainedAt: 2000, last: 0 },
      { atHeal: 40, backAt: 1000, last: 30 },
      { atHeal: 40, last: 30 },
      { atHeal: 40, backAt: 1000, drainedAt: 70_000, last: 0 },
      { error: 'broker down' },
    ];
    for (const f of cases) assert.equal(drainVerdict(f, 'cell-1', 60_000).pass, false, JSON.stringify(f));
  });

  it('follows the backlog until it is drained, only once the delivery service is back', async () => {
    const samples = [50, 20, DRAINED_MAX];
    const f: BacklogFacts = { backAt: Date.now() };
    await followDrain(async () => samples.shift() ?? 0, f, Date.now() + 5000);
    assert.equal(f.last, DRAINED_MAX);
    assert.ok(f.drainedAt !== undefined);
    const never: BacklogFacts = {};
    await followDrain(async () => 0, never, Date.now() + 600);
    assert.equal(never.drainedAt, undefined, 'drained before the delivery service was back');
  });

  it('names the delivery service in the accepted-orders verdict, and fails a failed create', () => {
    const what = { the: 'the delivery service', its: 'its delivery service' };
    const req = (failed: boolean) => ({ start: 10, end: 20, owner: 'cell-1', plane: 'router', op: 'create', failed });
    const ok = acceptedWhileDown([req(false)], { cell: 'cell-1', downAt: 0, backAt: 100 }, ['router'], what)[0]!;
    assert.equal(ok.name, 'orders accepted in cell-1 while its delivery service was down (router)');
    assert.equal(ok.pass, true);
    assert.equal(acceptedWhileDown([req(false), req(true)], { cell: 'cell-1', downAt: 0, backAt: 100 }, ['router'], what)[0]!.pass, false);
  });
});
