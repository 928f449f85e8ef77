/** The admin API through app.request(): tokens and scopes, path traversal, bad input, dry runs and audit (real Consul, fake cells). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AuditRecordSchema, CellRecordSchema, KvLayout } from '../../shared/kv.js';
import { MarketWriter } from '../../shared/markets/writer.js';
import { createLogger } from '../../shared/logger.js';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { FakeCells } from '../migration/fake-cells.test-helper.js';
import { Migrator } from '../migration/migrator.js';
import { RolloutManager } from '../rollout/manager.js';
import { AuditLog } from './audit.js';
import { Evacuator } from './evacuation.js';
import { CellLifecycle } from './lifecycle.js';
import { DeliveryScaling } from './delivery-scale.js';
import { measureLoad } from '../placement/load.js';
import { KvStore } from '../../shared/consul/kv-store.js';
import { adminRoutes } from './routes.js';
import { openSession, type ControlPlaneSession } from './session.js';
import { HttpError } from '../../shared/errors.js';
import type { CellLifecycleProcesses } from '../rollout/supervisor-client.js';

const log = createLogger('test');
log.level = 'silent';
const TOKEN = 'secret-operator-token';
const READ = 'secret-read-only-token';
const OPERATOR_AUTH = { authorization: `Bearer ${TOKEN}` };

describe('admin API', () => {
  let consul: ConsulAgent;
  let kv: KvStore;
  let session: ControlPlaneSession;
  let app: ReturnType<typeof adminRoutes>;
  /** A cell lifecycle over this file's Consul, migrator and rollouts, with `procs` as its supervisor. */
  let lifecycleWith: (procs: () => CellLifecycleProcesses | undefined) => CellLifecycle;
  const layout = new KvLayout('adm/');

  before(async () => {
    consul = await startConsul();
    kv = new KvStore(consul.url);
    session = await openSession(kv, 'cp-admin-test', log);
    await seedKv(
      consul.url,
      { cells: { 'cell-0': { canary: true }, 'cell-1': {}, 'cell-2': {} }, markets: { sf: { cell: 'cell-1' }, nyc: { cell: 'cell-2' } } },
      layout.prefix,
    );
    const cells = new FakeCells(['cell-0', 'cell-1', 'cell-2']);
    const migrator = new Migrator(kv, layout, cells, () => session.id, log, 'cp', { cleanupGraceMs: 10, settleMs: 1 });
    const rollouts = new RolloutManager(
      kv,
      layout,
      () => undefined,
      { instances: async () => [], registeredInstances: async () => [], metrics: async () => '' },
      () => session.id,
      log,
    );
    const evacuator = new Evacuator(kv, layout, migrator, log, () => session.id, 'cp');
    const procs = () => undefined;
    lifecycleWith = (p) =>
      new CellLifecycle({
        kv,
        layout,
        consul: kv.consul,
        migrator,
        rollouts,
        evacuator,
        procs: p,
        log,
        consulUrl: consul.url,
        prefix: layout.prefix,
      });
    const lifecycle = lifecycleWith(procs);
    app = adminRoutes({
      kv,
      markets: new MarketWriter(kv.consul, layout),
      layout,
      tokens: [
        { name: 'alice', scope: 'operator', token: TOKEN },
        { name: 'viewer', scope: 'read', token: READ },
      ],
      migrator,
      rollouts,
      evacuator,
      lifecycle,
      delivery: new DeliveryScaling(procs),
      placement: {
        measure: (windowMs) => measureLoad({ kv, layout, cells: { instances: async () => [], metrics: async () => '' }, log }, windowMs),
      },
      audit: new AuditLog(kv, layout, log),
      log,
    });
  });
  after(async () => {
    await session.close();
    await consul.proc.stop();
  });

  const state = async () =>
    JSON.stringify((await kv.list(layout.prefix)).filter((i) => !i.key.startsWith(layout.auditPrefix)).map((i) => [i.key, i.value]));
  const post = (path: string, body: unknown, token: string | null = TOKEN) =>
    app.request(path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-cellsim-operator': 'mallory@laptop',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });

  it('refuses mutations without the token or with a wrong one (401), with the read token (403), and changes nothing', async () => {
    const before = await state();
    for (const [token, status, code, re] of [
      [null, 401, 'unauthorized', /missing bearer token/],
      ['wrong-token-0123456789', 401, 'unauthorized', /wrong token/],
      [READ, 403, 'forbidden', /token 'viewer' has the read scope/],
    ] as const) {
      for (const [path, body] of [
        ['/migrations', { market: 'sf', to: 'cell-2' }],
        ['/cells/cell-1/drain', {}],
        ['/markets/denver/assign', { cell: 'cell-2' }],
      ] as const) {
        const res = await post(path, body, token);
        assert.equal(res.status, status, `${path} ${String(token)}`);
        const json = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(json.error.code, code);
        assert.match(json.error.message, re);
      }
    }
    assert.equal(await state(), before);
    assert.equal(
      (await kv.listJson(AuditRecordSchema, layout.auditPrefix)).values.length,
      0,
      'a refused token is not audited as an action',
    );
  });

  it('answers reads only with a token: 401 without one, the read token reads', async () => {
    for (const path of ['/status', '/markets', '/cells', '/migrations', '/rollouts', '/audit']) {
      const res = await app.request(path);
      assert.equal(res.status, 401, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unauthorized');
    }
    const res = await app.request('/markets', { headers: { authorization: `Bearer ${READ}` } });
    assert.equal(res.status, 200);
    assert.ok(((await res.json()) as { markets: unknown[] }).markets.length >= 2);
  });

  it('refuses a traversal in a path parameter with 400 and reads no Consul key', async () => {
    const keys: string[] = [];
    const spy = <K extends 'get' | 'list' | 'getJson' | 'listJson'>(name: K) => {
      const real = kv[name].bind(kv) as (...a: unknown[]) => Promise<unknown>;
      (kv as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => {
        keys.push(`${name} ${String(typeof a[0] === 'string' ? a[0] : a[1])}`);
        return real(...a);
      };
      return () => void ((kv as unknown as Record<string, unknown>)[name] = real);
    };
    const undo = [spy('get'), spy('list'), spy('getJson'), spy('listJson')];
    try {
      // cellsim/cells/cell-0 exists: read as a migration it would fail to decode (the 500 of issue 15)
      const cases: [string, string][] = [
        ['/migrations/..%2Fcells%2Fcell-0', 'invalid_market'],
        ['/migrations/..%2F..%2Fadm%2Fcells%2Fcell-0', 'invalid_market'],
        ['/rollouts/..%2Fcells%2Fcell-0', 'invalid_request'],
        ['/cells/..%2Fmarkets%2Fsf/evacuation', 'invalid_request'],
        ['/audit?limit=-5', 'invalid_request'],
      ];
      for (const [path, code] of cases) {
        const res = await app.request(path, { headers: { authorization: `Bearer ${READ}` } });
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(res.status, 400, `${path}: ${JSON.stringify(body)}`);
        assert.equal(body.error.code, code, path);
        assert.doesNotMatch(body.error.message, /decode|canary|capacity|Required/, path);
      }
      assert.equal(keys.length, 0, `read: ${keys.join(', ')}`);
      assert.equal((await app.request('/migrations/sf', { headers: { authorization: `Bearer ${READ}` } })).status, 404);
      assert.ok(keys.includes('getJson adm/migrations/sf'), `the spy sees reads: ${keys.join(', ')}`);
    } finally {
      for (const u of undo) u();
    }
  });

  it('answers bad operator input with a clear JSON error, changes nothing, and audits the refusal', async () => {
    const before = await state();
    const cases: [string, unknown, number, string, RegExp][] = [
      ['/migrations', { market: 'atlantis', to: 'cell-2' }, 404, 'unknown_market', /unknown market 'atlantis'/],
      ['/migrations', { market: 'sf', to: 'cell-9' }, 404, 'not_found', /unknown cell 'cell-9'/],
      ['/migrations', { market: 'sf', to: 'cell-1' }, 400, 'invalid_request', /already on cell-1/],
      ['/migrations', { market: 'sf' }, 400, 'invalid_request', /to: Required/],
      ['/markets/sf/assign', { cell: 'cell-7' }, 404, 'not_found', /unknown cell 'cell-7'/],
      ['/cells/cell-9/drain', {}, 404, 'not_found', /unknown cell 'cell-9'/],
      ['/rollouts', { version: 'v2' }, 409, 'conflict', /no process supervisor/],
      ['/rollouts', { version: 'v2', defect: { errorRate: 7 } }, 400, 'invalid_request', /defect/],
    ];
    for (const [path, body, status, code, re] of cases) {
      const res = await post(path, body);
      const json = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, status, `${path} ${JSON.stringify(body)}: ${JSON.stringify(json)}`);
      assert.equal(json.error.code, code);
      assert.match(json.error.message, re);
    }
    assert.equal(await state(), before);
    const audit = (await kv.listJson(AuditRecordSchema, layout.auditPrefix)).values.map((v) => v.value);
    assert.ok(audit.some((a) => a.result === 'refused' && a.who === 'alice' && /unknown market/.test(a.error ?? '')));
    assert.ok(
      audit.every((a) => a.who === 'alice' && a.claimed === 'mallory@laptop'),
      "who is the token's name; the header only claimed",
    );
  });

  it('dry runs print the plan and change nothing', async () => {
    const before = await state();
    const res = await post('/migrations', { market: 'sf', to: 'cell-2', dryRun: true });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { plan: { from: string; to: string; steps: string[] } };
    assert.equal(body.plan.from, 'cell-1');
    assert.ok(body.plan.steps.length >= 5);
    assert.equal((await post('/cells/cell-1/drain', { dryRun: true })).status, 200);
    assert.equal((await post('/cells/cell-1/evacuate', { dryRun: true })).status, 200);
    assert.equal(await state(), before);
  });

  it('assigns a new market, migrates an existing one, and audits who, what, before and after', async () => {
    const created = await post('/markets/denver/assign', { cell: 'cell-2' });
    assert.equal(created.status, 200);
    const moved = await post('/migrations', { market: 'sf', to: 'cell-2' });
    assert.equal(moved.status, 202);
    const again = await post('/migrations', { market: 'sf', to: 'cell-2' });
    assert.equal(again.status, 409);
    for (let i = 0; i < 100; i++) {
      const rec = (await (await app.request('/migrations/sf', { headers: OPERATOR_AUTH })).json()) as { migration: { state: string } };
      if (rec.migration.state === 'done') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const markets = (await (await app.request('/markets', { headers: OPERATOR_AUTH })).json()) as {
      markets: { market: string; cell: string; epoch: number }[];
    };
    assert.deepEqual(
      markets.markets.map((m) => `${m.market}@${m.cell}#${m.epoch}`),
      ['denver@cell-2#1', 'nyc@cell-2#1', 'sf@cell-2#2'],
    );
    const audit = (await kv.listJson(AuditRecordSchema, layout.auditPrefix)).values.map((v) => v.value);
    const assign = audit.find((a) => a.action === 'assign' && a.target === 'denver');
    assert.deepEqual(assign?.after, { cell: 'cell-2', state: 'active', epoch: 1 });
    assert.equal(assign?.before, null);
    const mig = audit.find((a) => a.action === 'migrate' && a.result === 'started');
    assert.deepEqual(mig?.before, { cell: 'cell-1', state: 'active', epoch: 1 });
    assert.equal(mig?.who, 'alice', "the token's name");
    assert.equal(mig?.claimed, 'mallory@laptop');
  });

  it('adds a cell without a supervisor (the record, and the command line to run), refuses to retire the canary or a cell with markets, and retires an empty one', async () => {
    const dry = await post('/cells/cell-5/add', { capacity: 7, dryRun: true });
    assert.equal(dry.status, 200);
    assert.equal(await kv.getJson(CellRecordSchema, layout.cellKey('cell-5')), undefined, 'a dry run writes nothing');
    const res = await post('/cells/cell-5/add', { capacity: 7 });
    assert.equal(res.status, 200);
    const added = (await res.json()) as { record: { state: string; capacity: number; version: string }; started: boolean; run: string };
    assert.deepEqual([added.record.state, added.record.capacity, added.record.version, added.started], ['active', 7, 'v1', false]);
    assert.match(added.run, /^cellctl cell --id cell-5 .*--consul http:\/\/127\.0\.0\.1:\d+ --prefix adm\//);
    assert.equal((await post('/cells/cell-5/add', {})).status, 409, 'an existing cell');
    const canary = await post('/cells/cell-0/retire', {});
    assert.equal(canary.status, 409);
    assert.equal(((await canary.json()) as { error: { code: string } }).error.code, 'conflict');
    assert.equal((await post('/markets/boston/assign', { cell: 'cell-5' })).status, 200);
    const full = await post('/cells/cell-5/retire', {});
    assert.equal(full.status, 409);
    assert.deepEqual(((await full.json()) as { error: { code: string; details: unknown } }).error, {
      code: 'cell_not_empty',
      message: 'cell cell-5 owns 1 market(s): evacuate them first (evacuate: true)',
      details: { markets: ['boston'] },
    });
    await new MarketWriter(kv.consul, layout).put('boston', { cell: 'cell-2', state: 'active', epoch: 2 });
    const retired = await post('/cells/cell-5/retire', {});
    assert.equal(retired.status, 200, await retired.clone().text());
    assert.deepEqual(await retired.json(), { retired: true, cell: 'cell-5', stopped: false, deregistered: [] });
    assert.equal(await kv.getJson(CellRecordSchema, layout.cellKey('cell-5')), undefined, 'the record is gone');
    const audit = (await kv.listJson(AuditRecordSchema, layout.auditPrefix)).values.map((v) => v.value);
    assert.deepEqual(
      audit
        .filter((a) => a.target === 'cell-5')
        .map((a) => `${a.action}:${a.result}`)
        .sort(),
      ['add (dry run):dry-run', 'add:ok', 'add:refused', 'retire:ok', 'retire:refused'],
    );
  });
  it('retires a cell whose supervisor fails to stop it with 503 cell_stop_failed, its record kept (draining)', async () => {
    await seedKv(consul.url, { cells: { 'cell-8': {} } }, layout.prefix);
    const lifecycle = lifecycleWith(
      () => ({ removeCell: () => Promise.reject(new Error('fetch failed')) }) as unknown as CellLifecycleProcesses,
    );
    const item = (await kv.getJson(CellRecordSchema, layout.cellKey('cell-8')))!;
    await assert.rejects(lifecycle.retire(item.value, item.item.modifyIndex), (err: unknown) => {
      assert.ok(err instanceof HttpError, `an HttpError, not ${String(err)}`);
      assert.deepEqual(
        [err.code, err.status, err.message],
        ['cell_stop_failed', 503, 'cell-8 did not stop: the supervisor: fetch failed; its record stays, draining'],
      );
      return true;
    });
    assert.equal((await kv.getJson(CellRecordSchema, layout.cellKey('cell-8')))?.value.state, 'draining');
  });
});
