/** Unit: the hidden `--drill-sabotage` values, and the router options a sabotaged router runs with. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDrillSabotage, withDrillSabotage } from './sabotage.js';

describe('drill sabotage of a router', () => {
  it('parses one-cell=<cell> and isolation-off, and refuses anything else', () => {
    assert.deepEqual(parseDrillSabotage('one-cell=cell-0'), { kind: 'one-cell', cell: 'cell-0' });
    assert.deepEqual(parseDrillSabotage('isolation-off'), { kind: 'isolation-off' });
    for (const bad of ['', 'one-cell', 'one-cell=', 'one-cell=a b', 'isolation', 'off']) {
      assert.throws(() => parseDrillSabotage(bad), /is not a drill sabotage/, bad);
    }
  });

  it('never registers a sabotaged router; one-cell routes every market to the cell, isolation-off turns stall detection off', () => {
    const base = { port: 1, consulUrl: 'http://127.0.0.1:8500', isolation: { stallMs: 750, busyMs: 3000 } };
    const one = withDrillSabotage(base, { kind: 'one-cell', cell: 'cell-0' });
    assert.equal(one.register, false);
    assert.equal(one.routeEveryMarketTo, 'cell-0');
    assert.deepEqual(one.isolation, base.isolation, 'isolation untouched');
    const off = withDrillSabotage(base, { kind: 'isolation-off' });
    assert.equal(off.register, false);
    assert.equal(off.routeEveryMarketTo, undefined);
    assert.deepEqual(off.isolation, { stallMs: 0, busyMs: 3000 });
    assert.equal(base.isolation.stallMs, 750, 'the given options are not changed');
  });
});
