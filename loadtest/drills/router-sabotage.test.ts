/**
 * Unit: which extra router a router sabotage switch starts, the router plane it replaces (and
 * nothing else), and where the switches are refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DrillEnv } from '../env/types.js';
import type { Plane, Target } from '../plan.js';
import { findDrill } from './index.js';
import { routerSabotagePlan, withRouterPlane } from './router-sabotage.js';
import { assertSabotageApplies } from './sabotage.js';
import type { DrillOptions } from './types.js';

const base: DrillOptions = { planes: ['router', 'envoy'], durationMs: 10_000, rate: 30 };
const cells = ['cell-0', 'cell-1', 'cell-2'];

describe('router sabotage', () => {
  it('starts no extra router without a router switch', () => {
    assert.equal(routerSabotagePlan(base, cells, ['cell-1']), undefined);
    assert.equal(routerSabotagePlan({ ...base, faultEveryCell: true }, cells, ['cell-1']), undefined);
  });

  it('--router-one-cell sends every market to the first cell that is not faulted', () => {
    assert.deepEqual(routerSabotagePlan({ ...base, routerOneCell: true }, cells, ['cell-1'])?.args, [
      '--drill-sabotage',
      'one-cell=cell-0',
    ]);
    assert.deepEqual(routerSabotagePlan({ ...base, routerOneCell: true }, cells, ['cell-0'])?.args, [
      '--drill-sabotage',
      'one-cell=cell-1',
    ]);
    assert.throws(() => routerSabotagePlan({ ...base, routerOneCell: true }, cells, cells), /every cell is faulted/);
  });

  it('--router-isolation-off turns the hang isolation off', () => {
    assert.deepEqual(routerSabotagePlan({ ...base, routerIsolationOff: true }, cells, ['cell-1'])?.args, [
      '--drill-sabotage',
      'isolation-off',
    ]);
  });

  it('replaces the router plane by the extra router and leaves every other plane and lever alone', async () => {
    const topo: Target[] = [
      { plane: 'router', replica: 'router-1', url: 'http://127.0.0.1:1' },
      { plane: 'router', replica: 'router-2', url: 'http://127.0.0.1:2' },
      { plane: 'envoy', replica: 'envoy-1', url: 'http://127.0.0.1:3' },
    ];
    class Env {
      readonly killed: string[] = [];
      targets(planes: Plane[]): Target[] {
        return topo.filter((t) => planes.includes(t.plane));
      }
      cells(): string[] {
        return cells;
      }
      killAndHold(c: string): Promise<void> {
        this.killed.push(c); // a method that needs its own `this`
        return Promise.resolve();
      }
    }
    const inner = new Env();
    const extra: Target = { plane: 'router', replica: 'drill-sabotage-router', url: 'http://127.0.0.1:9' };
    const env = withRouterPlane(inner as unknown as DrillEnv, { target: extra, stop: () => Promise.resolve() });
    assert.deepEqual(env.targets(['router', 'envoy']), [extra, topo[2]]);
    assert.deepEqual(env.targets(['router']), [extra]);
    assert.deepEqual(env.targets(['envoy']), [topo[2]]);
    assert.deepEqual(env.cells(), cells);
    await env.killAndHold('cell-1');
    assert.deepEqual(inner.killed, ['cell-1']);
  });

  it('is refused where it does not apply: other drills, a run without the router plane, both switches at once', () => {
    const hang = findDrill('cell-hang')!;
    const errors = findDrill('cell-errors')!;
    assert.doesNotThrow(() => assertSabotageApplies(hang, { ...base, routerIsolationOff: true }));
    assert.doesNotThrow(() => assertSabotageApplies(errors, { ...base, routerOneCell: true }));
    assert.throws(() => assertSabotageApplies(errors, { ...base, routerIsolationOff: true }), /does not apply to drill cell-errors/);
    assert.throws(() => assertSabotageApplies(findDrill('consul-outage')!, { ...base, routerOneCell: true }), /does not apply/);
    assert.throws(
      () => assertSabotageApplies(hang, { ...base, planes: ['envoy'], routerIsolationOff: true }),
      /sabotages the router plane: the run must drive it/,
    );
    assert.throws(() => assertSabotageApplies(hang, { ...base, routerOneCell: true, routerIsolationOff: true }), /separate runs/);
  });
});
