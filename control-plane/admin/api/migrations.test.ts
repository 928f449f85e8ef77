/** `POST /migrations` and `POST /migrations/:market/abort` without Consul: status codes, operator and audit. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from '../../../shared/errors.js';
import { appWith, fakeDeps, json, market, post } from './fakes.test-helper.js';
import { migrationRoutes } from './migrations.js';

function setup() {
  const f = fakeDeps();
  f.kv.set(f.layout.marketKey('sf'), market('cell-1'));
  return { ...f, app: appWith(f.deps, migrationRoutes) };
}

describe('admin migrations', () => {
  it('starts a migration for the operator (202) and audits the market record before it', async () => {
    const t = setup();
    t.migrator.start = async (m: string, to: string, by: string) => ({ id: 'mig-1', market: m, to, by });
    const res = await post(t.app, '/migrations', { market: 'sf', to: 'cell-2' });
    assert.equal(res.status, 202);
    assert.deepEqual(await json(res), { migration: { id: 'mig-1', market: 'sf', to: 'cell-2', by: 'alice' } });
    assert.deepEqual(t.audit, [
      {
        who: 'alice',
        action: 'migrate',
        target: 'sf',
        params: { to: 'cell-2' },
        before: market('cell-1'),
        after: { migration: 'mig-1' },
        result: 'started',
      },
    ]);
  });

  it('starts a move by share with its steps, header and bake; refuses bad steps and a header without steps (400), starting nothing', async () => {
    const t = setup();
    const started: unknown[] = [];
    t.migrator.start = async (m: string, to: string, by: string, share?: unknown) => {
      started.push(share);
      return { id: 'mig-2', market: m, to, by };
    };
    const res = await post(t.app, '/migrations', { market: 'sf', to: 'cell-2', steps: [1, 10, 50], header: 'x-customer-id', bakeMs: 5000 });
    assert.equal(res.status, 202);
    assert.deepEqual(started, [{ steps: [1, 10, 50], header: 'x-customer-id', bakeMs: 5000 }]);
    assert.deepEqual(t.audit[0]?.params, { to: 'cell-2', steps: [1, 10, 50], header: 'x-customer-id', bakeMs: 5000 });
    for (const body of [
      { steps: [50, 10] },
      { steps: [0] },
      { steps: [100] },
      { steps: [1.234] },
      { steps: [] },
      { steps: [10], header: 'X-Customer' },
      { steps: [10], header: 'x-market-id' },
      { header: 'x-customer-id' },
      { bakeMs: 1000 },
    ]) {
      const bad = await post(t.app, '/migrations', { market: 'sf', to: 'cell-2', ...body });
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.equal((await json<{ error: { code: string } }>(bad)).error.code, 'invalid_request', JSON.stringify(body));
    }
    assert.equal(started.length, 1, 'nothing else started');
  });

  it('answers the plan of a dry run (200); a market without record or a refused plan is audited with before undefined', async () => {
    const t = setup();
    t.migrator.plan = async (m: string, to: string) => {
      if (m !== 'sf') throw new HttpError('unknown_market', `unknown market '${m}'`);
      return { market: m, from: 'cell-1', to };
    };
    const res = await post(t.app, '/migrations', { market: 'sf', to: 'cell-2', dryRun: true });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { dryRun: true, plan: { market: 'sf', from: 'cell-1', to: 'cell-2' } });
    assert.equal(t.audit[0]?.action, 'migrate (dry run)');
    assert.equal(t.audit[0]?.result, 'dry-run');
    const unknown = await post(t.app, '/migrations', { market: 'atlantis', to: 'cell-2', dryRun: true });
    assert.equal(unknown.status, 404);
    assert.equal(t.audit[1]?.result, 'refused');
    assert.equal(t.audit[1]?.before, undefined);
  });

  it('still answers when the market record cannot be read (before is left out)', async () => {
    const t = setup();
    t.kv.getJson = async () => {
      throw new Error('consul down');
    };
    t.migrator.start = async () => ({ id: 'mig-2' });
    assert.equal((await post(t.app, '/migrations', { market: 'sf', to: 'cell-2' })).status, 202);
    assert.equal(t.audit[0]?.before, undefined);
  });

  it('checks an abort without writing on dryRun (200), and refuses another field (400)', async () => {
    const t = setup();
    let aborted = 0;
    t.migrator.abort = async () => {
      aborted += 1;
      return {};
    };
    t.migrator.abortable = async (m: string) => ({ value: { market: m, state: 'copying' }, item: { modifyIndex: 7 } });
    const res = await post(t.app, '/migrations/sf/abort', { dryRun: true });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { dryRun: true, migration: { market: 'sf', state: 'copying' } });
    assert.equal(aborted, 0, 'a dry run aborted the migration');
    assert.equal(t.audit[0]?.action, 'migrate --abort (dry run)');
    const bad = await post(t.app, '/migrations/sf/abort', { dryRun: 'yes' });
    assert.equal(bad.status, 400);
    assert.equal(aborted, 0);
  });

  it('aborts a migration (202), audited with the migration record before it', async () => {
    const t = setup();
    t.migrator.get = async () => ({ market: 'sf', state: 'copying' });
    t.migrator.abort = async (m: string) => ({ market: m, abortRequested: true });
    const res = await post(t.app, '/migrations/sf/abort');
    assert.equal(res.status, 202);
    assert.deepEqual(await json(res), { migration: { market: 'sf', abortRequested: true } });
    assert.deepEqual(t.audit, [
      {
        who: 'alice',
        action: 'migrate --abort',
        target: 'sf',
        params: {},
        before: { market: 'sf', state: 'copying' },
        after: { abortRequested: true },
        result: 'ok',
      },
    ]);
  });
});
