/** Rollout start, plan, abort and a cell's rollback without Consul: status codes, the request passed on, audit. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from '../../../shared/errors.js';
import { appWith, cell, fakeDeps, json, post } from './fakes.test-helper.js';
import { rolloutRoutes } from './rollouts.js';

function setup() {
  const f = fakeDeps();
  f.kv.set(f.layout.cellKey('cell-0'), cell('cell-0', { canary: true }));
  return { ...f, app: appWith(f.deps, rolloutRoutes) };
}

describe('admin rollouts', () => {
  it('starts a rollout (202) with the request and the operator, and audits its parameters', async () => {
    const t = setup();
    const asked: unknown[] = [];
    t.rollouts.start = async (req: unknown) => {
      asked.push(req);
      return { id: 'r1', version: 'v2' };
    };
    const res = await post(t.app, '/rollouts', { version: 'v2', bakeMs: 100, waveSizes: [1, 2] });
    assert.equal(res.status, 202);
    assert.deepEqual(await json(res), { rollout: { id: 'r1', version: 'v2' } });
    assert.deepEqual(asked, [{ version: 'v2', defect: undefined, bakeMs: 100, waveSizes: [1, 2], allowIdle: undefined, by: 'alice' }]);
    assert.deepEqual(t.audit, [
      {
        who: 'alice',
        action: 'rollout',
        target: 'v2',
        params: { defect: undefined, bakeMs: 100, waveSizes: [1, 2], allowIdle: undefined },
        before: undefined,
        after: { rollout: 'r1' },
        result: 'started',
      },
    ]);
  });

  it("answers a dry run with the plan's record (200), and refuses a bad body or a refused start", async () => {
    const t = setup();
    t.rollouts.plan = async () => ({ record: { id: 'plan', waves: [['cell-0']] }, opts: {} });
    const res = await post(t.app, '/rollouts', { version: 'v2', dryRun: true });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { dryRun: true, plan: { id: 'plan', waves: [['cell-0']] } });
    assert.equal(t.audit[0]?.action, 'rollout (dry run)');
    const bad = await post(t.app, '/rollouts', { version: 'v2', waveSizes: [] });
    assert.equal(bad.status, 400);
    assert.equal((await json<{ error: { code: string } }>(bad)).error.code, 'invalid_request');
    // Weighted steps are percents strictly between 0 and 100.
    for (const steps of [[0], [100], [], ['10']]) {
      const badSteps = await post(t.app, '/rollouts', { version: 'v2', steps });
      assert.equal(badSteps.status, 400, JSON.stringify(steps));
    }
    const stepped = await post(t.app, '/rollouts', { version: 'v2', steps: [1, 10, 50], dryRun: true });
    assert.equal(stepped.status, 200);
    assert.deepEqual(t.audit.at(-1)?.params, {
      defect: undefined,
      bakeMs: undefined,
      waveSizes: undefined,
      allowIdle: undefined,
      steps: [1, 10, 50],
    });
    t.rollouts.start = async () => {
      throw new HttpError('conflict', 'a rollout is running');
    };
    const busy = await post(t.app, '/rollouts', { version: 'v3' });
    assert.equal(busy.status, 409);
    assert.equal(t.audit.at(-1)?.result, 'refused');
  });

  it('aborts the running rollout (202), audited with it as before', async () => {
    const t = setup();
    t.rollouts.running = () => ({ id: 'r1', state: 'baking' });
    t.rollouts.abort = async () => ({ id: 'r1', abortRequested: true });
    const res = await post(t.app, '/rollouts/abort');
    assert.equal(res.status, 202);
    assert.deepEqual(await json(res), { rollout: { id: 'r1', abortRequested: true } });
    assert.deepEqual(t.audit[0], {
      who: 'alice',
      action: 'rollout --abort',
      target: 'rollout',
      params: {},
      before: { id: 'r1', state: 'baking' },
      after: undefined,
      result: 'ok',
    });
  });

  it('checks an abort without aborting on dryRun (200), 409 when none runs, 400 for another field', async () => {
    const t = setup();
    let aborted = 0;
    t.rollouts.abort = async () => {
      aborted += 1;
      return { id: 'r1' };
    };
    t.rollouts.abortable = async () => ({ id: 'r1', state: 'baking' });
    const res = await post(t.app, '/rollouts/abort', { dryRun: true });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { dryRun: true, rollout: { id: 'r1', state: 'baking' } });
    assert.equal(aborted, 0, 'a dry run aborted the rollout');
    assert.equal(t.audit[0]?.action, 'rollout --abort (dry run)');
    assert.equal(t.audit[0]?.result, 'dry-run');
    t.rollouts.abortable = async () => {
      throw new HttpError('conflict', 'no rollout is running');
    };
    assert.equal((await post(t.app, '/rollouts/abort', { dryRun: true })).status, 409);
    const bad = await post(t.app, '/rollouts/abort', { dryRun: true, force: true });
    assert.equal(bad.status, 400);
    assert.equal((await json<{ error: { code: string } }>(bad)).error.code, 'invalid_request');
    assert.equal(aborted, 0);
  });

  it('rolls a cell back (200), answers a dry run with the cell, and 404 for an unknown cell', async () => {
    const t = setup();
    t.rollouts.rollbackCell = async (c: string) => ({ cell: c, from: 'v2', to: 'v1', color: 'blue' });
    const res = await post(t.app, '/cells/cell-0/rollback', {});
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { rollback: { cell: 'cell-0', from: 'v2', to: 'v1', color: 'blue' } });
    assert.deepEqual(t.audit[0]?.after, { cell: 'cell-0', from: 'v2', to: 'v1', color: 'blue' });
    const dry = await post(t.app, '/cells/cell-0/rollback', { dryRun: true });
    assert.deepEqual(await json(dry), { dryRun: true, cell: cell('cell-0', { canary: true }) });
    assert.equal(t.audit[1]?.action, 'rollback (dry run)');
    assert.equal((await post(t.app, '/cells/cell-9/rollback', {})).status, 404);
  });
});
