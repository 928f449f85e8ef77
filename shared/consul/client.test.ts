/**
 * The Consul client against the real pinned Consul: KV check-and-set, locks with sessions, a
 * blocking query that answers on change (and not before), transactions, service registration
 * with health and catalog, and the error codes of an unreachable Consul, a refused request and
 * a cancelled one. The token and the transport are checked with a recording transport.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { freePorts } from '../../infra/ports.js';
import { ConsulClient, isConsulError, txnSet, type ConsulRequest, type ConsulTransport } from './client.js';
import { KvStore } from './kv-store.js';
import { nodeHttpTransport } from './node-http.js';
import { undiciTransport } from './undici.js';

let agent: ConsulAgent;
let consul: ConsulClient;

before(async () => {
  agent = await startConsul({ name: 'consul-client-test' });
  consul = new ConsulClient({ url: agent.url });
});
after(async () => {
  await agent.proc.stop();
});

describe('ConsulClient KV', () => {
  it('writes with check-and-set: create-only, then only at the ModifyIndex it read', async () => {
    assert.equal(await consul.kv.put('t/cas/a', 'one', { cas: 0 }), true);
    assert.equal(await consul.kv.put('t/cas/a', 'two', { cas: 0 }), false, 'cas=0 never overwrites');
    const { value: first } = await consul.kv.get('t/cas/a');
    assert.equal(first?.value, 'one');
    assert.ok(first && first.modifyIndex > 0);
    assert.equal(await consul.kv.put('t/cas/a', 'two', { cas: first.modifyIndex }), true);
    assert.equal(await consul.kv.put('t/cas/a', 'three', { cas: first.modifyIndex }), false, 'a stale index loses');
    const { value: second } = await consul.kv.get('t/cas/a');
    assert.equal(second?.value, 'two');
    assert.equal(await consul.kv.delete('t/cas/a', { cas: first.modifyIndex }), false);
    assert.equal(await consul.kv.delete('t/cas/a', { cas: second.modifyIndex }), true);
    assert.equal((await consul.kv.get('t/cas/a')).value, undefined);
  });

  it('lists a prefix with values, and only its keys; an empty prefix is an empty list', async () => {
    await consul.kv.put('t/list/x', '1');
    await consul.kv.put('t/list/y', '{"v":2}');
    const { value, index } = await consul.kv.list('t/list/');
    assert.ok(index > 0);
    assert.deepEqual(
      value.map((p) => [p.key, p.value]),
      [
        ['t/list/x', '1'],
        ['t/list/y', '{"v":2}'],
      ],
    );
    assert.deepEqual((await consul.kv.keys('t/list/')).value, ['t/list/x', 't/list/y']);
    assert.deepEqual((await consul.kv.list('t/nothing-here/')).value, []);
    assert.deepEqual((await consul.kv.keys('t/nothing-here/')).value, []);
    assert.equal(await consul.kv.delete('t/list/', { recurse: true }), true);
    assert.deepEqual((await consul.kv.list('t/list/')).value, []);
  });

  it('takes a lock with one session, refuses it to another until released', async () => {
    const s1 = await consul.session.create({ name: 'client-test-1', ttl: '15s', lockDelay: '0s' });
    const s2 = await consul.session.create({ name: 'client-test-2', ttl: '15s', lockDelay: '0s' });
    try {
      assert.ok((await consul.session.list()).some((s) => s.id === s1 && s.name === 'client-test-1'));
      assert.equal(await consul.kv.put('t/lock/m', 'held', { acquire: s1 }), true);
      assert.equal((await consul.kv.get('t/lock/m')).value?.session, s1);
      assert.equal(await consul.kv.put('t/lock/m', 'mine', { acquire: s2 }), false, 'held by the other session');
      assert.equal(await consul.kv.put('t/lock/m', 'free', { release: s1 }), true);
      assert.equal((await consul.kv.get('t/lock/m')).value?.session, undefined);
      assert.equal(await consul.kv.put('t/lock/m', 'mine', { acquire: s2 }), true);
      assert.equal(await consul.session.renew(s1), true);
    } finally {
      await consul.session.destroy(s1);
      await consul.session.destroy(s2);
    }
    assert.equal(await consul.session.renew(s1), false, 'a destroyed session is gone');
    assert.equal((await consul.kv.get('t/lock/m')).value?.session, undefined, 'destroying the holder released the lock');
  });

  it('answers a blocking query when the prefix changes, not before', async () => {
    await consul.kv.put('t/watch/a', '1');
    const first = await consul.kv.list('t/watch/');
    const t0 = performance.now();
    const pending = consul.kv.list('t/watch/', { index: first.index, wait: '10s' });
    let answered = false;
    void pending.then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(answered, false, 'no change, no answer');
    await consul.kv.put('t/watch/b', '2');
    const next = await pending;
    assert.ok(performance.now() - t0 < 3000, 'answered promptly after the change');
    assert.ok(next.index > first.index);
    assert.deepEqual(
      next.value.map((p) => p.key),
      ['t/watch/a', 't/watch/b'],
    );
  });

  it('runs a transaction atomically, and reports a rolled-back one with nothing applied', async () => {
    const done = await consul.kv.txn([txnSet('t/txn/a', 'A'), txnSet('t/txn/b', 'B'), { KV: { Verb: 'get-tree', Key: 't/txn/' } }]);
    assert.equal(done.ok, true);
    assert.deepEqual(done.errors, []);
    assert.deepEqual(
      done.results.filter((r) => r.value !== null).map((r) => [r.key, r.value]),
      [
        ['t/txn/a', 'A'],
        ['t/txn/b', 'B'],
      ],
    );
    const refused = await consul.kv.txn([txnSet('t/txn/c', 'C'), { KV: { Verb: 'check-not-exists', Key: 't/txn/a' } }]);
    assert.equal(refused.ok, false);
    assert.equal(refused.errors[0]?.opIndex, 1);
    assert.equal((await consul.kv.get('t/txn/c')).value, undefined, 'the rolled-back set was not applied');
  });
});

describe('ConsulClient services', () => {
  it('registers a service with the agent, sees it in health and catalog, and deregisters it', async () => {
    const id = 'client-test-svc-1';
    await consul.agent.register({
      ID: id,
      Name: 'client-test-svc',
      Address: '127.0.0.1',
      Port: 4321,
      Meta: { cell: 'cell-x' },
      Check: { TTL: '30s', Status: 'critical' },
    });
    try {
      assert.equal((await consul.agent.service(id))?.Port, 4321);
      assert.ok(id in (await consul.agent.services()));
      assert.deepEqual((await consul.health.service('client-test-svc', { passing: true })).value, []);
      const [entry] = (await consul.health.service('client-test-svc')).value;
      assert.equal(entry?.Service.Meta?.cell, 'cell-x');
      const check = entry?.Checks.find((c) => c.ServiceID === id);
      assert.equal(check?.Status, 'critical');
      await consul.agent.updateCheck(check.CheckID, 'passing', 'ok');
      assert.equal((await consul.health.checks('client-test-svc')).value[0]?.Output, 'ok');
      const passing = (await consul.health.service('client-test-svc', { passing: true })).value;
      assert.deepEqual(
        passing.map((e) => e.Service.ID),
        [id],
      );
      assert.ok('client-test-svc' in (await consul.catalog.services()).value);
      assert.equal((await consul.catalog.service('client-test-svc')).value[0]?.ServicePort, 4321);
      assert.equal((await consul.health.checks('client-test-svc')).value[0]?.Status, 'passing');
    } finally {
      await consul.agent.deregister(id);
    }
    assert.equal(await consul.agent.service(id), undefined);
    assert.deepEqual((await consul.health.service('client-test-svc')).value, []);
  });

  it('names the leader', async () => {
    assert.match(await consul.status.leader(), /^127\.0\.0\.1:\d+$/);
  });

  it('lists the Raft peers (one server here: the leader)', async () => {
    assert.deepEqual(await consul.status.peers(), [await consul.status.leader()]);
  });
});

describe('ConsulClient transports and errors', () => {
  it('answers the same through node:http and undici as through fetch', async () => {
    await consul.kv.put('t/transport/k', 'v');
    for (const transport of [nodeHttpTransport(), undiciTransport()]) {
      const other = new ConsulClient({ url: agent.url, transport });
      assert.equal((await other.kv.get('t/transport/k')).value?.value, 'v');
      assert.equal(await other.kv.put('t/transport/k', 'w', { cas: 0 }), false);
      assert.equal((await other.kv.get('t/transport/none')).value, undefined);
    }
  });

  it('sends the ACL token on every request, through the injected transport', async () => {
    const seen: ConsulRequest[] = [];
    const inner = nodeHttpTransport();
    const recording: ConsulTransport = (req) => {
      seen.push(req);
      return inner(req);
    };
    assert.ok(agent.token, 'the harness runs Consul with ACLs');
    const withToken = new ConsulClient({ url: agent.url, token: agent.token, transport: recording });
    await withToken.kv.put('t/token/k', 'v');
    await withToken.kv.list('t/token/');
    await withToken.status.leader();
    assert.equal(seen.length, 3);
    for (const req of seen) assert.equal(req.headers['x-consul-token'], agent.token);
    await new ConsulClient({ url: agent.url, token: '', transport: recording }).status.leader();
    assert.equal(seen.at(-1)?.headers['x-consul-token'], undefined, "token '': none sent");
    await assert.rejects(new ConsulClient({ url: agent.url, token: '', transport: recording }).kv.put('t/token/k', 'w'), (err) =>
      isConsulError(err, 'consul_http'),
    );
  });

  it('fails with consul_unavailable when nothing listens', async () => {
    const [port] = await freePorts(1);
    const gone = new ConsulClient({ url: `http://127.0.0.1:${port}` });
    for (const call of [() => gone.kv.get('x'), () => gone.agent.register({ ID: 'x', Name: 'x' }), () => gone.kv.txn([txnSet('x', 'y')])]) {
      await assert.rejects(call(), (err) => isConsulError(err, 'consul_unavailable'));
    }
    const viaNodeHttp = new ConsulClient({ url: `http://127.0.0.1:${port}`, transport: nodeHttpTransport() });
    await assert.rejects(viaNodeHttp.kv.list('x'), (err) => isConsulError(err, 'consul_unavailable'));
  });

  it('fails with consul_unavailable when no answer comes within the timeout', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const t0 = performance.now();
      await assert.rejects(new ConsulClient({ url }).kv.get('x', { timeoutMs: 200 }), (err) => isConsulError(err, 'consul_unavailable'));
      assert.ok(performance.now() - t0 < 2000);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('fails with consul_http and the status when Consul refuses the request', async () => {
    await assert.rejects(consul.session.create({ name: 'bad', ttl: 'not-a-duration' }), (err) => {
      assert.ok(isConsulError(err, 'consul_http'));
      assert.ok(err.status !== undefined && err.status >= 400, `status ${err.status}`);
      return true;
    });
  });

  it('fails with consul_aborted when the caller cancels a blocking query', async () => {
    const { index } = await consul.kv.list('t/abort/');
    const ac = new AbortController();
    const pending = consul.kv.list('t/abort/', { index: Math.max(index, 1), wait: '10s', signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(pending, (err) => isConsulError(err, 'consul_aborted'));
  });
});

describe('KvStore', () => {
  it('reads and writes JSON through the client, with sessions', async () => {
    const kv = new KvStore(consul);
    assert.equal(kv.url, agent.url);
    assert.equal(await kv.put('t/store/a', '{"n":1}', { cas: 0 }), true);
    const item = await kv.get('t/store/a');
    assert.equal(item?.value, '{"n":1}');
    assert.deepEqual(
      (await kv.list('t/store/')).map((i) => i.key),
      ['t/store/a'],
    );
    const s = await kv.createSession('store-test');
    assert.equal(await kv.put('t/store/a', '{"n":2}', { acquire: s }), true);
    assert.equal((await kv.get('t/store/a'))?.session, s);
    assert.ok((await kv.listSessions()).some((x) => x.id === s && x.name === 'store-test'));
    assert.equal(await kv.renewSession(s), true);
    await kv.destroySession(s);
    assert.equal(await kv.delete('t/store/a', item.modifyIndex), false);
    assert.equal(await kv.delete('t/store/a'), true);
    assert.equal(await kv.get('t/store/a'), undefined);
  });
});
