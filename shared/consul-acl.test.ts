/**
 * Consul ACLs with default deny against the real pinned Consul (issue 15, point 3): anonymous
 * writes and fake cell registrations are refused, each kind's token does its component's work
 * and nothing more, on every transport of the one client, and the setup is idempotent.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../infra/harness/consul.js';
import { ConsulClient, isConsulError, txnSet, type ServiceDefinition } from './consul/client.js';
import { nodeHttpTransport } from './consul/node-http.js';
import { undiciTransport } from './consul/undici.js';
import {
  CONSUL_TOKEN_KINDS,
  READY_KEY,
  consulTokenPath,
  ensureAclTokens,
  ensureConsulTokenFiles,
  policyName,
  type ConsulTokenKind,
} from './consul-acl.js';
import { SERVICE_CELL, SERVICE_ROUTER, SERVICE_XDS } from './consul-watch.js';
import { KvLayout } from './kv.js';
import { MarketWriter } from './markets/writer.js';

const PREFIX = 'cellsim/';
const layout = new KvLayout(PREFIX);
let agent: ConsulAgent;
let admin: ConsulClient;
const secrets = Object.fromEntries(CONSUL_TOKEN_KINDS.map((k) => [k, randomUUID()])) as Record<ConsulTokenKind, string>;
const as = (kind: ConsulTokenKind | 'anonymous', transport?: ReturnType<typeof nodeHttpTransport>) =>
  new ConsulClient({ url: agent.url, token: kind === 'anonymous' ? '' : secrets[kind], transport });

/** Resolves when `call` is refused with 403 by Consul's ACLs. */
async function refused(call: () => Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(call(), (err) => isConsulError(err, 'consul_http') && err.status === 403, what);
}

function cellService(cell: string, port: number): ServiceDefinition {
  return { ID: `cellsim-cell-${cell}-blue-${port}`, Name: SERVICE_CELL, Address: '127.0.0.1', Port: port, Meta: { cell } };
}

before(async () => {
  agent = await startConsul({ name: 'consul-acl-test' });
  admin = new ConsulClient({ url: agent.url, token: agent.token });
  await ensureAclTokens(admin, { prefix: PREFIX, node: 'cellsim', secrets });
  await admin.kv.put(layout.marketKey('dallas'), JSON.stringify({ cell: 'cell-0', state: 'active', epoch: 1 }));
});
after(async () => {
  await agent.proc.stop();
});

describe('Consul ACLs, default deny', () => {
  it('refuses an anonymous KV write and read, through every transport, and writes nothing', async () => {
    for (const transport of [undefined, nodeHttpTransport(), undiciTransport()]) {
      const anon = as('anonymous', transport);
      await refused(() => anon.kv.put(layout.marketKey('dallas'), '{"cell":"evil","state":"active","epoch":9}'), 'anonymous put');
      const txn = await anon.kv.txn([txnSet(layout.marketKey('austin'), '{}')]);
      assert.equal(txn.ok, false, 'anonymous txn');
      assert.match(txn.errors[0]?.what ?? '', /Permission denied/);
      await refused(() => anon.kv.get(layout.marketKey('dallas')), 'anonymous read');
    }
    assert.equal(JSON.parse((await admin.kv.get(layout.marketKey('dallas'))).value?.value ?? '{}').cell, 'cell-0');
    assert.equal((await admin.kv.get(layout.marketKey('austin'))).value, undefined);
  });

  it('refuses a fake cellsim-cell registration without the cell token', async () => {
    for (const kind of ['anonymous', 'router', 'agent'] as const) {
      await refused(() => as(kind).agent.register(cellService('cell-0', 9999)), `${kind} registers a cell`);
    }
    assert.equal(Object.keys(await admin.agent.services()).length, 0, 'nothing registered');
  });

  it('lets a cell register its cellsim-cell service and nothing else', async () => {
    const cell = as('cell');
    await cell.agent.register(cellService('cell-1', 9101));
    assert.ok(await cell.agent.service('cellsim-cell-cell-1-blue-9101'));
    await refused(() => cell.agent.register({ ID: 'cellsim-router-x', Name: SERVICE_ROUTER, Port: 1 }), 'a cell registers a router');
    await refused(() => cell.agent.register({ ID: 'cellsim-xds-x', Name: SERVICE_XDS, Port: 1 }), 'a cell registers an xDS server');
    await refused(() => cell.kv.get(layout.marketKey('dallas')), 'a cell reads the map');
    await refused(() => cell.kv.put(layout.cellKey('cell-1'), '{}'), 'a cell writes its record');
    await cell.agent.deregister('cellsim-cell-cell-1-blue-9101');
  });

  it('lets a router read the map, the cells and the change log and follow the cell service, but write none of them', async () => {
    await as('cell').agent.register({ ...cellService('cell-2', 9102), Check: { TTL: '30s', Status: 'passing' } });
    for (const transport of [undefined, nodeHttpTransport(), undiciTransport()]) {
      const router = as('router', transport);
      assert.equal(JSON.parse((await router.kv.get(layout.marketKey('dallas'))).value?.value ?? '{}').cell, 'cell-0');
      await router.kv.list(layout.cellsPrefix);
      await router.kv.get(layout.marketChangesKey);
      const { value: cells } = await router.health.service(SERVICE_CELL, { passing: true });
      assert.deepEqual(
        cells.map((e) => e.Service.ID),
        ['cellsim-cell-cell-2-blue-9102'],
        'the health answer is not filtered away',
      );
    }
    const router = as('router');
    await refused(() => router.kv.put(layout.marketKey('dallas'), '{"cell":"cell-3","state":"active","epoch":2}'), 'router writes the map');
    const writer = new MarketWriter(router, layout);
    await writer.put('dallas', { cell: 'cell-3', state: 'active', epoch: 2 }).then(
      (ok) => assert.equal(ok, false),
      (err: unknown) => assert.ok(isConsulError(err), String(err)),
    );
    assert.equal(JSON.parse((await admin.kv.get(layout.marketKey('dallas'))).value?.value ?? '{}').cell, 'cell-0', 'the map is unchanged');
    await refused(() => router.kv.put(layout.cellKey('cell-0'), '{}'), 'router writes a cell record');
    await refused(() => router.kv.get(layout.migrationKey('dallas')), 'router reads migrations');
    await refused(() => router.agent.register(cellService('cell-0', 9998)), 'router registers a cell');
    await router.agent.register({ ID: 'cellsim-router-r1', Name: SERVICE_ROUTER, Port: 8080 });
    await router.agent.deregister('cellsim-router-r1');
    await as('cell').agent.deregister('cellsim-cell-cell-2-blue-9102');
  });

  it('lets the control plane write the map with its change log, take a session lock, audit and register xDS', async () => {
    const cp = as('control-plane');
    assert.equal(await new MarketWriter(cp, layout).put('houston', { cell: 'cell-1', state: 'active', epoch: 1 }, { cas: 0 }), true);
    const session = await cp.session.create({ name: 'cellsim-cp:test', ttl: '15s' });
    assert.equal(await cp.kv.put(`${PREFIX}locks/rollout`, 'ro-1', { acquire: session }), true);
    assert.equal(await cp.kv.put(layout.migrationKey('houston'), '{}', { acquire: session }), true);
    await cp.kv.put(`${layout.auditPrefix}t-1`, '{}');
    await cp.kv.put(layout.rolloutKey('ro-1'), '{}');
    await cp.session.destroy(session);
    await cp.agent.register({ ID: 'cellsim-xds-cp-1-1', Name: SERVICE_XDS, Port: 1 });
    await cp.health.service(SERVICE_ROUTER);
    await cp.agent.deregister('cellsim-xds-cp-1-1');
    await refused(() => cp.kv.put('other/key', 'x'), 'the control plane writes outside its prefix');
    await refused(
      () => cp.agent.register({ ID: 'cellsim-router-x', Name: SERVICE_ROUTER, Port: 1 }),
      'the control plane registers a router',
    );
  });

  it("lets the supervisor seed the prefix and write its ready key; the agent's token reads no KV", async () => {
    const sup = as('supervisor');
    await sup.kv.put(READY_KEY, '1');
    await sup.kv.delete(READY_KEY);
    assert.equal(await sup.kv.put(layout.cellKey('cell-9'), '{}', { cas: 0 }), true);
    await refused(() => sup.session.create({ name: 'x' }), 'the supervisor makes a session');
    await refused(() => as('agent').kv.get(layout.marketKey('dallas')), 'the agent token reads the map');
  });

  it('is idempotent: a second setup changes no token and keeps each policy', async () => {
    const before = await Promise.all(CONSUL_TOKEN_KINDS.map((k) => as(k).acl.self()));
    await ensureAclTokens(admin, { prefix: PREFIX, node: 'cellsim', secrets });
    const again = await Promise.all(
      CONSUL_TOKEN_KINDS.map((k) =>
        as(k)
          .acl.self()
          .catch(() => undefined),
      ),
    );
    assert.deepEqual(again, before);
    assert.deepEqual(
      before.map((t) => t.policies),
      CONSUL_TOKEN_KINDS.map((k) => [policyName(PREFIX, k)]),
    );
  });
});

describe('Consul token files of a data directory', () => {
  it('are made once (a UUID each, mode 0600 in a 0700 directory) and kept by every later start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellsim-consul-tokens-'));
    try {
      const first = ensureConsulTokenFiles(dir);
      assert.deepEqual(first.created, ['management', ...CONSUL_TOKEN_KINDS]);
      assert.equal(new Set(Object.values(first.secrets)).size, 1 + CONSUL_TOKEN_KINDS.length);
      assert.equal(statSync(join(dir, 'tokens')).mode & 0o777, 0o700);
      for (const kind of first.created) assert.equal(statSync(consulTokenPath(dir, kind)).mode & 0o777, 0o600, kind);
      const again = ensureConsulTokenFiles(dir);
      assert.deepEqual(again.created, []);
      assert.deepEqual(again.secrets, first.secrets, 'a restart presents the same tokens');
      writeFileSync(consulTokenPath(dir, 'router'), 'not-a-uuid\n');
      assert.throws(() => ensureConsulTokenFiles(dir), /not a Consul token/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
