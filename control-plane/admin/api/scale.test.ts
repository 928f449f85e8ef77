import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChildStatus, DeliveryProcesses } from '../../rollout/supervisor-client.js';
import { DeliveryScaling, scalePlan } from '../delivery-scale.js';
import { appWith, cell, fakeDeps, json, post } from './fakes.test-helper.js';
import { scaleRoutes } from './scale.js';

type ErrorJson = { error: { code: string; message: string } };

const child = (name: string, kind = 'delivery'): ChildStatus => ({
  name,
  kind,
  state: 'running',
  pid: 1,
  restarts: 0,
  keepDown: false,
  cell: name.split('.')[0],
});

/** A supervisor whose children are `kids`; scaling records its calls. */
function fakeSupervisor(kids: ChildStatus[]) {
  const calls: [string, number][] = [];
  const procs: DeliveryProcesses = {
    children: async () => kids,
    scaleDelivery: async (c, n) => {
      calls.push([c, n]);
      return { ...scalePlan(c, kids, n), started: [], stopped: [], instances: [] };
    },
  };
  return { procs, calls };
}

function setup(procs: DeliveryProcesses | undefined) {
  const f = fakeDeps();
  f.kv.set(f.layout.cellKey('cell-1'), cell('cell-1'));
  f.kv.set(f.layout.cellKey('cell-2'), cell('cell-2'));
  f.deps.delivery = new DeliveryScaling(() => procs);
  return { f, app: appWith(f.deps, scaleRoutes) };
}

const split = () =>
  fakeSupervisor([child('cell-1.blue', 'cell'), child('cell-1.delivery-1'), child('cell-1.delivery-2'), child('cell-2.blue', 'cell')]);

describe('scale plan', () => {
  it('starts the missing instances up to n and stops those past n', () => {
    const kids = [child('cell-1.delivery-1'), child('cell-1.delivery-2'), child('cell-1.delivery-10'), child('cell-1.delivery-3')];
    assert.deepEqual(scalePlan('cell-1', kids.slice(0, 2), 4), {
      cell: 'cell-1',
      from: 2,
      to: 4,
      start: ['cell-1.delivery-3', 'cell-1.delivery-4'],
      stop: [],
    });
    assert.deepEqual(scalePlan('cell-1', kids, 2), {
      cell: 'cell-1',
      from: 4,
      to: 2,
      start: [],
      stop: ['cell-1.delivery-3', 'cell-1.delivery-10'],
    });
    assert.deepEqual(scalePlan('cell-1', kids.slice(0, 2), 2), { cell: 'cell-1', from: 2, to: 2, start: [], stop: [] });
  });
});

describe('admin API: scaling a delivery service', () => {
  it('scales through the supervisor and audits from and to', async () => {
    const s = split();
    const { f, app } = setup(s.procs);
    const res = await post(app, '/cells/cell-1/scale', { delivery: 3 });
    assert.equal(res.status, 200);
    assert.deepEqual((await json<{ from: number; to: number }>(res)).to, 3);
    assert.deepEqual(s.calls, [['cell-1', 3]]);
    assert.deepEqual(
      f.audit.map((a) => [a.action, a.target, a.result, a.who, a.after]),
      [['scale', 'cell-1', 'ok', 'alice', { delivery: 3 }]],
    );
  });

  it('answers the plan on a dry run and scales nothing', async () => {
    const s = split();
    const { f, app } = setup(s.procs);
    const res = await post(app, '/cells/cell-1/scale', { delivery: 3, dryRun: true });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), {
      dryRun: true,
      plan: { cell: 'cell-1', from: 2, to: 3, start: ['cell-1.delivery-3'], stop: [] },
    });
    assert.deepEqual(s.calls, []);
    assert.deepEqual(
      f.audit.map((a) => a.result),
      ['dry-run'],
    );
  });

  it('refuses n outside 2..8 and a bad body (400 invalid_request) before anything is asked or audited', async () => {
    const s = split();
    const { f, app } = setup(s.procs);
    for (const b of [
      { delivery: 1 },
      { delivery: 0 },
      { delivery: 9 },
      { delivery: 2.5 },
      { delivery: 'abc' },
      {},
      { delivery: 3, web: 2 },
    ]) {
      const res = await post(app, '/cells/cell-1/scale', b);
      assert.equal(res.status, 400, JSON.stringify(b));
      assert.equal((await json<ErrorJson>(res)).error.code, 'invalid_request');
    }
    assert.deepEqual([s.calls, f.audit], [[], []]);
  });

  it('refuses a cell whose delivery instances a delivery rollout replaces (409 cell_busy), scaling nothing', async () => {
    const s = split();
    const { f, app } = setup(s.procs);
    const running = { id: 'ro-1-v2', version: 'v2', role: 'delivery', previous: { 'cell-1': { version: 'v1', color: 'blue' } } };
    f.rollouts.running = () => running;
    const res = await post(app, '/cells/cell-1/scale', { delivery: 3 });
    assert.equal(res.status, 409);
    assert.match((await json<ErrorJson>(res)).error.message, /delivery rollout ro-1-v2 \(v2\) is replacing cell-1's delivery instances/);
    assert.deepEqual(s.calls, []);
    // A rollout of the cells' own instances does not hold the delivery service.
    f.rollouts.running = () => ({ ...running, role: undefined });
    assert.equal((await post(app, '/cells/cell-1/scale', { delivery: 3 })).status, 200);
  });

  it('refuses an unknown cell (404 not_found), scaling nothing', async () => {
    const s = split();
    const { app } = setup(s.procs);
    const res = await post(app, '/cells/cell-7/scale', { delivery: 3 });
    assert.equal(res.status, 404);
    assert.equal((await json<ErrorJson>(res)).error.code, 'not_found');
    assert.deepEqual(s.calls, []);
  });

  it('refuses a cell that is not split (a --log sqlite topology) and a topology without a supervisor (409 conflict), audited as refused', async () => {
    for (const [target, procs, said] of [
      ['cell-2', split().procs, /cell-2 is not split .*--log sqlite/],
      ['cell-1', fakeSupervisor([child('cell-1.blue', 'cell')]).procs, /cell-1 is not split/],
      ['cell-1', undefined, /no cellctl up supervisor runs cell-1's processes/],
    ] as const) {
      const { f, app } = setup(procs);
      const res = await post(app, `/cells/${target}/scale`, { delivery: 3 });
      assert.equal(res.status, 409, String(said));
      const e = (await json<ErrorJson>(res)).error;
      assert.equal(e.code, 'conflict');
      assert.match(e.message, said);
      assert.deepEqual(
        f.audit.map((a) => a.result),
        ['refused'],
      );
    }
  });
});
