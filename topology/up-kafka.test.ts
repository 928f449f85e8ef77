/**
 * `cellctl up --log kafka --tls` on real processes (Consul, 2 cells, routers, control plane, Envoys, and
 * a real KRaft Kafka broker per cell from the jars infra/install.sh caches; HTTPS everywhere, mutual
 * TLS to the cells and their delivery instances, the brokers plaintext on loopback): every cell's broker
 * is supervised and listed (topology.json, `cellctl status`), each cell's log is a topic on its
 * own broker, orders through a router and an Envoy reach DELIVERED on every cell, a broker
 * killed from outside is restarted on its kept storage and its cell goes on, `cellctl cells
 * scale` takes a cell's delivery service to 3 instances and back to 2 while orders flow, `cellctl
 * rollout --role delivery` replaces every cell's delivery instances one at a time (cell-0 first)
 * and rolls a stalling version back on its lag verdict while orders flow, none lost, and no Java
 * process outlives the teardown; a second `cellctl up` on the same data directory (a persistent
 * Consul, `--persist`) starts the scaled count again, on the version the delivery rollout left in
 * the cell records; there, split cell-0 killed is recovered from its order and delivery backups
 * (`cellctl evacuate cell-0 --from-backup`) onto split cell-1, each order and its delivery as they
 * were, and an order in flight at the death (PENDING, its delivery service held) found by cell-1's
 * reconciliation under TLS (the alert in its metric and `cellctl status`) and DELIVERED there once.
 * Bad `--log` and bad scale input are refused with their reason, writing nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { requireKafka } from '../infra/kafka-dist.js';
import { ConsulClient } from '../shared/consul.js';
import { readConsulToken } from '../shared/consul-acl.js';
import { type ManagedProcess } from '../infra/process.js';
import { cellctlJson, runCellctl, startUp } from '../infra/harness/up.js';
import { caClient, peerClient, type PeerClient } from '../shared/pki/client.js';
import { readTlsFiles } from '../shared/pki/identity.js';
import { tlsFiles } from '../shared/pki/names.js';

interface Topo {
  supervisor: { url: string };
  routers: { url: string }[];
  envoys: { url: string }[];
  cells: {
    id: string;
    kafka?: { name: string; bootstrap: string; pid: number | null; state: string };
    delivery?: { name: string; url: string; pid: number | null; state: string }[];
  }[];
  markets: { id: string; cell: string | null }[];
}

/** Pids of processes whose command line names `needle`. */
function processesNaming(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));
/** The first topology's data directory, left for the second `cellctl up` on it. */
let keptData: string | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The test's fetch: trusts the `--tls` topology's CA (routers and Envoys in HTTPS; `http:` passes through). */
let web: PeerClient['fetch'] = (url, init) => fetch(url, init);

/** The topology's CA file under `data`, PEM. */
const caOf = (data: string) => readFileSync(tlsFiles(join(data, 'tls'), 'ca').ca, 'utf8');
/** A Consul client of the topology in `data` (HTTPS with its CA) with the control plane's token. */
const consulOf = (data: string) =>
  new ConsulClient({
    url: (JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as { consul: { url: string } }).consul.url,
    token: readConsulToken(data, 'control-plane'),
    ca: caOf(data),
  });

/** Of `orders`, those not DELIVERED (read through `routerUrl`) after polling every 500 ms for up to `ms`. */
async function notDelivered<T extends { id: string; market: string }>(routerUrl: string, orders: readonly T[], ms = 90_000): Promise<T[]> {
  const statusOf = async (o: T) => {
    const res = await web(`${routerUrl}/v1/orders/${o.id}`, { headers: { 'x-market-id': o.market } });
    return ((await res.json()) as { status: string }).status;
  };
  let pending = [...orders];
  const until = Date.now() + ms;
  while (pending.length && Date.now() < until) {
    // 50 reads at a time: a thousand TLS handshakes at once fail on a loaded machine ('fetch failed').
    const states: string[] = [];
    for (let i = 0; i < pending.length; i += 50) states.push(...(await Promise.all(pending.slice(i, i + 50).map(statusOf))));
    pending = pending.filter((_, i) => states[i] !== 'DELIVERED');
    if (pending.length) await sleep(500);
  }
  return pending;
}

describe('cellctl up --log kafka (a real broker per cell)', () => {
  let data: string;
  let up: ManagedProcess | undefined;
  let topo: Topo;
  let client: PeerClient | undefined;

  before(async () => {
    requireKafka(); // no jars or no Java: fail here, loudly
    data = mkdtempSync(join(tmpdir(), 'cellsim-up-kafka-'));
    // A persistent Consul: the cell records (with the delivery rollout's version) outlive this `up`.
    // Under --tls: the delivery rollout, the scaling and the recovery below run with HTTPS everywhere, mutual TLS to the cells.
    up = await startUp({ data, cells: 2, log: 'kafka', tls: true, persist: true, readyTimeoutMs: 300_000 });
    topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
    client = caClient(caOf(data));
    web = client.fetch;
  });
  after(async () => {
    await up?.stop(60_000);
    await client?.close();
    // Kept for the next describe (a second cellctl up on it) when every test passed; removed there.
    if (up === undefined && existsSync(join(data, 'delivery', 'cell-0', 'instances.json'))) keptData = data;
    else rmSync(data, { recursive: true, force: true });
  });

  it('runs a broker per cell, lists it, and carries every order to DELIVERED on every cell', async () => {
    assert.equal(topo.cells.length, 2);
    // --tls: the planes and every cell's services answer HTTPS only (the brokers stay plaintext on loopback).
    for (const url of [...topo.routers, ...topo.envoys, ...topo.cells.flatMap((c) => c.delivery ?? [])].map((x) => x.url))
      assert.match(url, /^https:\/\//);
    const brokers = topo.cells.map((c) => c.kafka);
    for (const [i, b] of brokers.entries()) {
      assert.ok(b, `cell-${i} has no broker in topology.json`);
      assert.equal(b.state, 'running');
      assert.ok(b.pid, 'the broker listens');
    }
    assert.equal(new Set(brokers.map((b) => b!.bootstrap)).size, 2, 'one broker per cell, none shared');

    const status = await runCellctl(data, ['status']);
    assert.equal(status.code, 0, status.stderr);
    for (const c of topo.cells) assert.match(status.stdout, new RegExp(`kafka brokers:.*${c.id} ${c.kafka!.bootstrap} running`));
    const json = await cellctlJson<{
      processes: { name: string; kind: string; url?: string; state: string; role?: string }[];
      cells: { id: string; instances: { port: number }[] }[];
    }>(data, ['status']);
    for (const c of topo.cells) {
      const p = json.processes.find((x) => x.name === `kafka.${c.id}`);
      assert.deepEqual(p && { kind: p.kind, url: p.url, state: p.state }, { kind: 'kafka', url: c.kafka!.bootstrap, state: 'running' });
    }

    // Orders through a router and an Envoy to a market of each cell.
    const orders: { id: string; market: string; cell: string }[] = [];
    for (const c of topo.cells) {
      const market = topo.markets.find((m) => m.cell === c.id)?.id;
      assert.ok(market, `${c.id} owns no market`);
      for (const [i, base] of [topo.routers[0]!.url, topo.envoys[0]!.url, topo.routers[1]!.url].entries()) {
        const res = await web(`${base}/v1/orders`, {
          method: 'POST',
          headers: { 'x-market-id': market, 'idempotency-key': `kafka-${c.id}-${i}`, 'content-type': 'application/json' },
          body: JSON.stringify({ customerId: `c-${i}`, items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
        });
        const text = await res.text();
        assert.equal(res.status, 201, `${base}: ${text}`);
        assert.equal(res.headers.get('x-cell-id'), c.id);
        orders.push({ id: (JSON.parse(text) as { id: string }).id, market, cell: c.id });
      }
    }
    const sup = async (path: string, method = 'GET') => {
      const token = readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim();
      const res = await web(`${topo.supervisor.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      return (await res.json()) as { name: string; state: string; pid: number | null; restarts: number }[];
    };
    const statusOf = async (o: (typeof orders)[number]) => {
      const res = await web(`${topo.routers[0]!.url}/v1/orders/${o.id}`, { headers: { 'x-market-id': o.market } });
      return ((await res.json()) as { status: string }).status;
    };
    assert.deepEqual(await notDelivered(topo.routers[0]!.url, orders), [], 'orders not DELIVERED within 90 s');

    // Each cell is split: its order service (the cell child) and two delivery instances, shown by role.
    for (const c of topo.cells) {
      assert.deepEqual(
        c.delivery?.map((d) => [d.name, d.state]),
        [
          [`${c.id}.delivery-1`, 'running'],
          [`${c.id}.delivery-2`, 'running'],
        ],
      );
      assert.match(
        status.stdout,
        new RegExp(
          `${c.id} \\[order: ${c.id}\\.blue running \\(pid \\d+\\); delivery: ${c.id}\\.delivery-1 running \\(pid \\d+\\), ${c.id}\\.delivery-2 running`,
        ),
      );
      for (const name of [`${c.id}.delivery-1`, `${c.id}.delivery-2`])
        assert.equal(json.processes.find((p) => p.name === name)?.role, 'delivery');
      assert.equal(json.processes.find((p) => p.name === `${c.id}.blue`)?.role, 'order');
    }
    // Each split cell's delivery service keeps its continuous copy beside the order service's (for --from-backup).
    for (const c of topo.cells) assert.ok(existsSync(join(data, 'backups', c.id, 'delivery', 'backup.json')), `${c.id}'s delivery copy`);
    // Routers see only the order services: no delivery port among the cells' instances in Consul.
    const deliveryPorts = new Set(topo.cells.flatMap((c) => c.delivery!.map((d) => Number(new URL(d.url).port))));
    for (const c of json.cells)
      for (const i of c.instances) assert.ok(!deliveryPorts.has(i.port), `${c.id}: a delivery instance registered as a cell`);

    // One delivery instance of cell-0 killed and held down: the other takes its partitions, no order is lost.
    const cellOf0 = topo.cells[0]!;
    const market0of = orders.find((o) => o.cell === cellOf0.id)!.market;
    await sup(`/children/${cellOf0.id}.delivery-1/kill?hold=1`, 'POST');
    const held: typeof orders = [];
    for (let i = 0; i < 10; i++) {
      const res = await web(`${topo.routers[0]!.url}/v1/orders`, {
        method: 'POST',
        headers: { 'x-market-id': market0of, 'idempotency-key': `kafka-held-${i}`, 'content-type': 'application/json' },
        body: JSON.stringify({ customerId: `h-${i}`, items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
      });
      const text = await res.text();
      assert.equal(res.status, 201, text);
      held.push({ id: (JSON.parse(text) as { id: string }).id, market: market0of, cell: cellOf0.id });
    }
    assert.deepEqual(
      await notDelivered(topo.routers[0]!.url, held),
      [],
      'orders not DELIVERED by the surviving delivery instance within 90 s',
    );
    await sup(`/children/${cellOf0.id}.delivery-1/start`, 'POST');

    // A broker killed from outside is restarted by the supervisor on its kept storage; its cell goes on.
    const cell0 = topo.cells[0]!;
    const market0 = orders.find((o) => o.cell === cell0.id)!.market;
    await sup(`/children/kafka.${cell0.id}/kill`, 'POST');
    const restartedUntil = Date.now() + 120_000;
    let broker0 = (await sup('/children')).find((c) => c.name === `kafka.${cell0.id}`)!;
    while (!(broker0.state === 'running' && broker0.pid !== cell0.kafka!.pid && broker0.restarts > 0) && Date.now() < restartedUntil) {
      await sleep(500);
      broker0 = (await sup('/children')).find((c) => c.name === `kafka.${cell0.id}`)!;
    }
    assert.equal(broker0.state, 'running', `kafka.${cell0.id} not restarted: ${JSON.stringify(broker0)}`);
    const res = await web(`${topo.routers[0]!.url}/v1/orders`, {
      method: 'POST',
      headers: { 'x-market-id': market0, 'idempotency-key': 'kafka-after-restart', 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: 'c-r', items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
    });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    const after = { id: (JSON.parse(text) as { id: string }).id, market: market0, cell: cell0.id };
    const afterUntil = Date.now() + 90_000;
    while ((await statusOf(after)) !== 'DELIVERED' && Date.now() < afterUntil) await sleep(500);
    assert.equal(await statusOf(after), 'DELIVERED', 'an order after the broker restart');

    // Each cell's events went through a topic on its own broker, and only there.
    for (const c of topo.cells) {
      const admin = new Admin({ clientId: 'up-kafka-test', bootstrapBrokers: [c.kafka!.bootstrap] });
      try {
        const topics = (await admin.listTopics()).filter((t) => t.startsWith('cellsim.'));
        assert.deepEqual(topics.sort(), [`cellsim.${c.id}.deliveries`, `cellsim.${c.id}.orders`]);
      } finally {
        await admin.close();
      }
    }
  });

  it("scales cell-1's delivery service to 3 and back to 2 while orders flow, refusing bad input untouched", async () => {
    const t0 = Date.now();
    const cell = topo.cells[1]!;
    const market = topo.markets.find((m) => m.cell === cell.id)!.id;
    const token = readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim();
    type Kid = {
      name: string;
      kind: string;
      cell?: string;
      state: string;
      pid: number | null;
      wrapperPid: number | null;
      restarts: number;
      port?: number;
    };
    const kids = async () => {
      const res = await web(`${topo.supervisor.url}/children`, { headers: { authorization: `Bearer ${token}` } });
      return ((await res.json()) as Kid[]).filter((k) => k.kind === 'delivery' && k.cell === cell.id);
    };
    const names = async () => (await kids()).map((k) => k.name).sort();
    const two = [`${cell.id}.delivery-1`, `${cell.id}.delivery-2`];
    /** The client ids of the members of the cell's `delivery` group (each names its instance's port). */
    const members = async () => {
      const admin = new Admin({ clientId: 'up-kafka-scale', bootstrapBrokers: [cell.kafka!.bootstrap] });
      try {
        const g = (await admin.describeGroups({ groups: ['delivery'] })).get('delivery');
        return [...(g?.members.values() ?? [])].map((m) => m.clientId).sort();
      } finally {
        await admin.close();
      }
    };
    /** Polls `ok` every 250 ms for up to `ms` (a throw counts as not yet: the group coordinator may be loading). */
    const until = async (what: string, ok: () => Promise<boolean>, ms = 20_000) => {
      const end = Date.now() + ms;
      let last = '';
      while (!(await ok().catch((err: unknown) => ((last = (err as Error).message), false)))) {
        assert.ok(Date.now() < end, `${what} within ${ms} ms${last ? ` (last error: ${last})` : ''}`);
        await sleep(250);
      }
    };

    // Bad input: refused with its reason, nothing started or stopped, nothing audited as a scale.
    for (const [args, said] of [
      [['--delivery', '1'], /'1' is not a delivery instance count: 2 to 8/],
      [['--delivery', 'abc'], /'abc' is not a delivery instance count/],
      [['--delivery', '9'], /'9' is not a delivery instance count/],
    ] as const) {
      const r = await runCellctl(data, ['cells', 'scale', cell.id, ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, said);
    }
    const unknown = await runCellctl(data, ['cells', 'scale', 'cell-9', '--delivery', '3']);
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.match(unknown.stderr, /unknown cell 'cell-9' \(not_found\)/);
    const plan = await cellctlJson<{ dryRun: boolean; plan: { from: number; to: number; start: string[]; stop: string[] } }>(data, [
      'cells',
      'scale',
      cell.id,
      '--delivery',
      '3',
      '--dry-run',
    ]);
    assert.deepEqual(plan, { dryRun: true, plan: { cell: cell.id, from: 2, to: 3, start: [`${cell.id}.delivery-3`], stop: [] } });
    assert.deepEqual(await names(), two, 'a refused or dry-run scale changed the children');

    // Orders to the cell's market all along (bounded: at most 40, one each 150 ms); a refused one fails the test after.
    const orders: string[] = [];
    const refused: string[] = [];
    /** The third instance as it ran: started, then restarted after its crash. */
    const seen: Kid[] = [];
    let flowing = true;
    const flow = (async () => {
      for (let i = 0; flowing && i < 40; i++) {
        const res = await web(`${topo.routers[0]!.url}/v1/orders`, {
          method: 'POST',
          headers: { 'x-market-id': market, 'idempotency-key': `kafka-scale-${i}`, 'content-type': 'application/json' },
          body: JSON.stringify({ customerId: `s-${i}`, items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
        }).catch((err: unknown) => err as Error);
        if (res instanceof Error || res.status !== 201)
          refused.push(res instanceof Error ? res.message : `${res.status} ${await res.text()}`);
        else orders.push(((await res.json()) as { id: string }).id);
        await sleep(150);
      }
    })();
    try {
      const up3 = await cellctlJson<{ from: number; to: number; started: string[]; stopped: string[] }>(data, [
        'cells',
        'scale',
        cell.id,
        '--delivery',
        '3',
      ]);
      assert.deepEqual([up3.from, up3.to, up3.started, up3.stopped], [2, 3, [`${cell.id}.delivery-3`], []]);
      const three = await kids();
      assert.deepEqual(
        three.map((k) => [k.name, k.state]).sort(),
        [...two, `${cell.id}.delivery-3`].map((n) => [n, 'running']),
      );
      const third = three.find((k) => k.name === `${cell.id}.delivery-3`)!;
      seen.push(third);
      await until('3 members in the consumer group, the new instance among them', async () => {
        const m = await members();
        return m.length === 3 && m.some((id) => id.endsWith(`-${third.port}`));
      });
      await until('topology.json lists 3 delivery instances', async () => {
        const t = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
        return t.cells.find((c) => c.id === cell.id)?.delivery?.length === 3;
      });
      const status = await runCellctl(data, ['status']);
      assert.match(status.stdout, new RegExp(`${cell.id}\\.delivery-3 running \\(pid ${third.pid}\\)`));

      // A crash of the new instance: the supervisor restarts it, and the count stays 3.
      await web(`${topo.supervisor.url}/children/${cell.id}.delivery-3/kill`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      await until(
        'delivery-3 restarted after a crash',
        async () => {
          const k = (await kids()).find((x) => x.name === `${cell.id}.delivery-3`);
          return k?.state === 'running' && k.restarts > 0 && k.pid !== third.pid;
        },
        30_000,
      );
      assert.equal((await kids()).length, 3, 'the count after a restart');

      seen.push((await kids()).find((x) => x.name === `${cell.id}.delivery-3`)!);
      const down = await cellctlJson<{ from: number; to: number; started: string[]; stopped: string[] }>(data, [
        'cells',
        'scale',
        cell.id,
        '--delivery',
        '2',
      ]);
      assert.deepEqual([down.from, down.to, down.started, down.stopped], [3, 2, [], [`${cell.id}.delivery-3`]]);
      assert.deepEqual(await names(), two);
      await until('the group back to 2 members', async () => (await members()).length === 2);
    } finally {
      flowing = false;
      await flow;
    }
    assert.deepEqual(refused, [], 'orders refused while the delivery service scaled');

    // Every order placed meanwhile reaches DELIVERED (partitions moved both ways; re-reads absorbed).
    const statusOf = async (id: string) => {
      const res = await web(`${topo.routers[0]!.url}/v1/orders/${id}`, { headers: { 'x-market-id': market } });
      return ((await res.json()) as { status: string }).status;
    };
    let pending = orders;
    await until(
      'every order DELIVERED',
      async () => {
        const states = await Promise.all(pending.map(statusOf));
        pending = pending.filter((_, i) => states[i] !== 'DELIVERED');
        return pending.length === 0;
      },
      60_000,
    );
    assert.ok(orders.length >= 5, `only ${orders.length} orders flowed`);
    assert.equal(seen.length, 2);
    // The stopped instance left no process behind.
    for (const pid of seen.flatMap((k) => [k.pid!, k.wrapperPid!]))
      assert.throws(() => process.kill(pid, 0), `pid ${pid} of delivery-3 survived`);
    process.stderr.write(`# scale test: ${orders.length} orders, ${Date.now() - t0} ms\n`);
  });

  it("rolls each cell's delivery service out one instance at a time, cell-0 first, while orders flow; a stalling version rolls back", async () => {
    const t0 = Date.now();
    const token = readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim();
    type Kid = { name: string; kind: string; cell?: string; version?: string; state: string };
    const deliveryKids = async (cell: string) => {
      const res = await web(`${topo.supervisor.url}/children`, { headers: { authorization: `Bearer ${token}` } });
      return ((await res.json()) as Kid[]).filter((k) => k.kind === 'delivery' && k.cell === cell);
    };
    const consul = consulOf(data);
    /** The versions of a cell's passing delivery instances in Consul's catalog, one per instance. */
    const catalog = async (cell: string) =>
      (await consul.health.service('cellsim-delivery', { passing: true })).value
        .filter((e) => e.Service.Meta?.cell === cell)
        .map((e) => e.Service.Meta?.version)
        .sort();
    const markets = topo.cells.map((c) => topo.markets.find((m) => m.cell === c.id)!.id);
    type Rollout = {
      state: string;
      role?: string;
      report?: string;
      previous: Record<string, { version: string }>;
      deliveryInstances?: Record<string, number>;
      waves: { cells: string[]; state: string; delivery?: { cell: string; pass: boolean; reason: string; lag: { max: number } }[] }[];
    };

    // Each split cell's record names its delivery service's version from the first start (v1).
    for (const c of topo.cells) {
      const rec = JSON.parse((await consul.kv.get(`cellsim/cells/${c.id}`)).value?.value ?? '{}') as { deliveryVersion?: string };
      assert.equal(rec.deliveryVersion, 'v1', `${c.id}'s record before any delivery rollout`);
    }

    // The plan: cell-0 first, each cell's two delivery instances on v1; nothing changes.
    const plan = await cellctlJson<Rollout>(data, ['rollout', 'v2', '--role', 'delivery', '--dry-run']);
    assert.deepEqual(
      [plan.role, plan.waves.map((w) => w.cells), plan.deliveryInstances, plan.previous['cell-0']?.version],
      ['delivery', [['cell-0'], ['cell-1']], { 'cell-0': 2, 'cell-1': 2 }, 'v1'],
    );
    for (const c of topo.cells)
      assert.deepEqual(
        (await deliveryKids(c.id)).map((k) => k.version),
        ['v1', 'v1'],
      );
    const steps = await runCellctl(data, ['rollout', 'v2', '--role', 'delivery', '--steps', '1,10']);
    assert.equal(steps.code, 1, steps.stderr);
    assert.match(steps.stderr, /--steps is for a rollout of the cells/);

    // Orders to a market of each cell all along, one each 100 ms (each start of a delivery instance
    // takes seconds, tens of seconds on a loaded machine); a refused or unanswered one fails the test after.
    const orders: { id: string; market: string }[] = [];
    const refused: string[] = [];
    let slowest = 0;
    let flowing = true;
    const flow = (async () => {
      for (let i = 0; flowing && i < 6000; i++) {
        const market = markets[i % markets.length]!;
        const began = Date.now();
        const res = await web(`${topo.routers[i % 2]!.url}/v1/orders`, {
          method: 'POST',
          headers: { 'x-market-id': market, 'idempotency-key': `kafka-drollout-${i}`, 'content-type': 'application/json' },
          body: JSON.stringify({ customerId: `d-${i}`, items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
          signal: AbortSignal.timeout(5000),
        }).catch((err: unknown) => err as Error);
        slowest = Math.max(slowest, Date.now() - began);
        if (res instanceof Error || res.status !== 201)
          refused.push(res instanceof Error ? res.message : `${res.status} ${await res.text()}`);
        else orders.push({ id: ((await res.json()) as { id: string }).id, market });
        await sleep(100);
      }
    })();
    let good!: Rollout;
    let bad!: Rollout;
    let badCode = 0;
    try {
      good = await cellctlJson<Rollout>(data, ['rollout', 'v2', '--role', 'delivery', '--bake', '4s'], 420_000);
      const goodDone = Date.now();
      for (const c of topo.cells) {
        assert.deepEqual(
          (await deliveryKids(c.id)).map((k) => [k.name, k.version, k.state]).sort(),
          [`${c.id}.delivery-1`, `${c.id}.delivery-2`].map((n) => [n, 'v2', 'running']),
        );
        assert.deepEqual(await catalog(c.id), ['v2', 'v2'], `${c.id}: Consul's catalog after the rollout`);
      }
      process.stderr.write(`# delivery rollout v2: ${goodDone - t0} ms\n`);

      // A version whose consumer fails every order event (retried: it stalls): the lag verdict breaches on cell-0.
      const r = await runCellctl(data, ['rollout', 'v2-stuck', '--role', 'delivery', '--bake', '8s', '--max-lag', '15', '--json'], 420_000);
      badCode = r.code;
      assert.ok(r.stdout.trim(), `cellctl rollout v2-stuck printed no record (exit ${r.code}): ${r.stderr}`);
      bad = JSON.parse(r.stdout) as Rollout;
      process.stderr.write(`# delivery rollout v2-stuck: ${Date.now() - goodDone} ms\n`);
      for (const c of topo.cells) assert.deepEqual(await catalog(c.id), ['v2', 'v2'], `${c.id}: Consul's catalog after the rollback`);
    } finally {
      flowing = false;
      await flow;
    }
    assert.equal(good.state, 'succeeded', good.report);
    assert.deepEqual(
      good.waves.map((w) => [w.state, w.delivery?.map((v) => [v.cell, v.pass])]),
      [
        ['passed', [['cell-0', true]]],
        ['passed', [['cell-1', true]]],
      ],
    );
    assert.equal(badCode, 1, 'a rolled-back rollout exits 1');
    assert.equal(bad.state, 'rolled-back', bad.report);
    assert.deepEqual(
      bad.waves.map((w) => w.state),
      ['breached', 'skipped'],
    );
    assert.match(
      bad.report ?? '',
      /delivery verdict breached in wave 0 \(cell-0\): cell-0: consumer lag \d+ records, above the bound of 15/,
    );
    assert.match(bad.report ?? '', /delivery of cell-0 back on v2/);
    for (const c of topo.cells)
      assert.deepEqual(
        (await deliveryKids(c.id)).map((k) => [k.name, k.version]).sort(),
        [`${c.id}.delivery-1`, `${c.id}.delivery-2`].map((n) => [n, 'v2']),
      );

    // The order API answered throughout, and every order placed meanwhile reaches DELIVERED: none lost.
    assert.deepEqual(refused, [], 'orders refused (or unanswered within 5 s) during the delivery rollouts');
    assert.deepEqual(await notDelivered(topo.routers[0]!.url, orders), [], 'orders not DELIVERED within 90 s of the rollouts');
    assert.ok(orders.length >= 100, `only ${orders.length} orders flowed`);
    // Each cell record names its delivery service's version (v2: written by the passed waves, kept by the rollback).
    for (const c of topo.cells) {
      const rec = JSON.parse((await consul.kv.get(`cellsim/cells/${c.id}`)).value?.value ?? '{}') as {
        version?: string;
        deliveryVersion?: string;
      };
      assert.deepEqual([rec.version, rec.deliveryVersion], ['v1', 'v2'], `${c.id}'s record`);
    }

    // Scaled to 3 for the next test: the count is kept for the next cellctl up on this data directory.
    const scaled = await cellctlJson<{ to: number }>(data, ['cells', 'scale', 'cell-0', '--delivery', '3']);
    assert.equal(scaled.to, 3);
    assert.deepEqual(JSON.parse(readFileSync(join(data, 'delivery', 'cell-0', 'instances.json'), 'utf8')), { instances: 3 });
    process.stderr.write(`# delivery rollouts: ${orders.length} orders (slowest accepted in ${slowest} ms), ${Date.now() - t0} ms\n`);
  });

  it('leaves no Java process and no broker behind once stopped', async () => {
    const now = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
    const pids = [...topo.cells, ...now.cells].flatMap((c) => [c.kafka!.pid!, ...c.delivery!.map((d) => d.pid!)]);
    const kafkaDir = join(data, 'kafka');
    assert.equal(processesNaming(kafkaDir).length >= 2, true, 'the brokers run with their config under <data>/kafka');
    await up!.stop(60_000);
    up = undefined;
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), `broker or delivery pid ${pid} survived teardown`);
    assert.deepEqual(processesNaming(kafkaDir), [], 'a java process naming <data>/kafka survived teardown');
    assert.deepEqual(readdirSync(kafkaDir).sort(), ['cell-0', 'cell-1'], 'the brokers kept their data under <data>/kafka');
  });
});

describe('cellctl up --log kafka --tls again on the same data directory', () => {
  let again: ManagedProcess | undefined;
  let client: PeerClient | undefined;
  /** The cells' own ports (mutual TLS): with the control plane's certificate. */
  let cells: PeerClient | undefined;
  let t: Topo;
  let t0 = 0;
  /** The orders of split cell-0's market the first test placed, DELIVERED; the recovery reads them back. */
  let ofCell0: { id: string; market: string; cell: string }[] = [];

  before(async () => {
    // Runs after the topology above stopped (node:test runs describe blocks in order), on its data directory.
    assert.ok(keptData, 'the topology above kept no data directory');
    t0 = Date.now();
    // cell-2 is new and left out of --split-cells: one process on its own broker (orchestrated saga).
    again = await startUp({
      data: keptData,
      cells: 3,
      log: 'kafka',
      splitCells: 'cell-0,cell-1',
      tls: true,
      persist: true,
      readyTimeoutMs: 300_000,
    });
    t = JSON.parse(readFileSync(join(keptData, 'topology.json'), 'utf8')) as Topo;
    client = caClient(caOf(keptData));
    web = client.fetch;
    cells = peerClient(readTlsFiles(tlsFiles(join(keptData, 'tls'), 'control-plane')), ['cell']);
  });
  after(async () => {
    await again?.stop(60_000);
    await client?.close();
    await cells?.close();
    if (keptData) rmSync(keptData, { recursive: true, force: true });
    if (t0) process.stderr.write(`# second cellctl up: ${Date.now() - t0} ms\n`);
  });

  it('starts the delivery instance count cellctl cells scale set, on the version the delivery rollout left', async () => {
    assert.ok(keptData);
    assert.deepEqual(
      t.cells[0]?.delivery?.map((d) => [d.name, d.state]),
      [1, 2, 3].map((n) => [`cell-0.delivery-${n}`, 'running']),
    );
    const status = await runCellctl(keptData, ['status']);
    assert.match(status.stdout, /cell-0\.delivery-3 running/);
    // The delivery instances on v2 (cell records' deliveryVersion), the order services on v1 (their version).
    const token = readFileSync(join(keptData, 'tokens', 'supervisor'), 'utf8').trim();
    const res = await web(`${t.supervisor.url}/children`, { headers: { authorization: `Bearer ${token}` } });
    const kids = ((await res.json()) as { name: string; kind: string; version?: string; port?: number }[]).filter(
      (k) => k.kind === 'delivery' || k.kind === 'cell',
    );
    assert.deepEqual(kids.map((k) => [k.name, k.version]).sort(), [
      ['cell-0.blue', 'v1'],
      ...[1, 2, 3].map((n) => [`cell-0.delivery-${n}`, 'v2']),
      ['cell-1.blue', 'v1'],
      ...[1, 2].map((n) => [`cell-1.delivery-${n}`, 'v2']),
      ['cell-2.blue', 'v1'],
    ]);

    // cell-2 runs as one process: its own broker, no delivery instance, role `all`, no delivery version.
    const cell2 = t.cells.find((c) => c.id === 'cell-2');
    assert.ok(cell2, 'cell-2 in topology.json');
    assert.equal(cell2.kafka?.state, 'running', 'cell-2 has a broker of its own');
    assert.equal(cell2.delivery, undefined, 'cell-2 has no delivery instances');
    const adminToken = readFileSync(join(keptData, 'tokens', 'cell-admin'), 'utf8').trim();
    const roleOf = async (cell: string) => {
      const port = kids.find((k) => k.name === `${cell}.blue`)!.port!;
      // A cell's admin API is mutual TLS: called with the control plane's certificate.
      const r = await cells!.fetch(`https://127.0.0.1:${port}/admin/status`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      return ((await r.json()) as { role: string }).role;
    };
    assert.deepEqual([await roleOf('cell-0'), await roleOf('cell-2')], ['order', 'all']);
    assert.doesNotMatch(status.stdout, /cell-2 \[order:/);
    const consul = consulOf(keptData);
    const record = async (cell: string) =>
      JSON.parse((await consul.kv.get(`cellsim/cells/${cell}`)).value?.value ?? '{}') as { version?: string; deliveryVersion?: string };
    const rec2 = await record('cell-2');
    assert.deepEqual([rec2.version, rec2.deliveryVersion], ['v1', undefined], "cell-2's record");

    // A delivery rollout covers the split cells only; a scale of cell-2 is refused with the reason.
    const plan = await cellctlJson<{ waves: { cells: string[] }[]; deliveryInstances?: Record<string, number> }>(keptData, [
      'rollout',
      'v3',
      '--role',
      'delivery',
      '--dry-run',
    ]);
    assert.deepEqual([plan.waves.map((w) => w.cells), plan.deliveryInstances], [[['cell-0'], ['cell-1']], { 'cell-0': 3, 'cell-1': 2 }]);
    const scale = await runCellctl(keptData, ['cells', 'scale', 'cell-2', '--delivery', '3']);
    assert.equal(scale.code, 1, scale.stderr);
    assert.match(scale.stderr, /cell-2 is not split into order and delivery services \(it runs as one process/);

    // Both kinds serve orders side by side: a new market on cell-2 and a market of split cell-0, to DELIVERED.
    const assigned = await runCellctl(keptData, ['assign', 'kafka-solo', 'cell-2']);
    assert.equal(assigned.code, 0, assigned.stderr);
    const market0 = t.markets.find((m) => m.cell === 'cell-0')!.id;
    const placed: { id: string; market: string; cell: string }[] = [];
    for (const [i, market] of ['kafka-solo', market0, 'kafka-solo', market0].entries()) {
      // The routers learn the new market from Consul within moments: 404 unknown_market until then.
      let r: Response;
      for (let tries = 0; ; tries++) {
        r = await web(`${t.routers[i % 2]!.url}/v1/orders`, {
          method: 'POST',
          headers: { 'x-market-id': market, 'idempotency-key': `kafka-kinds-${i}`, 'content-type': 'application/json' },
          body: JSON.stringify({ customerId: `k-${i}`, items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
        });
        if (r.status !== 404 || tries >= 40) break;
        await r.arrayBuffer();
        await sleep(250);
      }
      const text = await r.text();
      assert.equal(r.status, 201, `${market}: ${text}`);
      placed.push({ id: (JSON.parse(text) as { id: string }).id, market, cell: r.headers.get('x-cell-id') ?? '' });
    }
    assert.deepEqual(
      placed.map((o) => o.cell),
      ['cell-2', 'cell-0', 'cell-2', 'cell-0'],
    );
    assert.deepEqual(
      await notDelivered(t.routers[0]!.url, placed),
      [],
      'orders of the one-process cell and of the split cell not DELIVERED within 90 s',
    );
    ofCell0 = placed.filter((o) => o.cell === 'cell-0');
    // cell-2's log went through its own broker: its orders topic and no deliveries topic (no delivery service).
    const admin = new Admin({ clientId: 'up-kafka-kinds', bootstrapBrokers: [cell2.kafka.bootstrap] });
    try {
      assert.deepEqual(
        (await admin.listTopics()).filter((x) => x.startsWith('cellsim.')),
        ['cellsim.cell-2.orders'],
      );
    } finally {
      await admin.close();
    }
  });

  it('recovers dead split cell-0 from its two backups (evacuate --from-backup): its markets on split cell-1, not one-process cell-2, each order and its delivery as they were', async () => {
    assert.ok(keptData && cells);
    const data = keptData;
    const began = Date.now();
    assert.equal(ofCell0.length, 2, 'the test above placed two orders on cell-0');
    const market0 = ofCell0[0]!.market;
    const adminToken = readFileSync(join(data, 'tokens', 'cell-admin'), 'utf8').trim();
    const supToken = readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim();
    const deliveryUrl = (cell: string) => t.cells.find((c) => c.id === cell)!.delivery![0]!.url;
    /** What a cell's delivery service holds for the orders: status, courier and saga of each delivery. */
    const deliveriesAt = async (cell: string, ids = ofCell0.map((o) => o.id)) => {
      const r = await cells!.fetch(`${deliveryUrl(cell)}/admin/reconcile/deliveries`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ orderIds: ids }),
      });
      const text = await r.text();
      assert.equal(r.status, 200, `${cell}'s delivery service: ${text}`);
      const got = (JSON.parse(text) as { deliveries: { orderId: string; status: string; courier: string | null; saga: unknown }[] })
        .deliveries;
      return got
        .map((d) => ({ orderId: d.orderId, status: d.status, courier: d.courier, saga: d.saga }))
        .sort((x, y) => x.orderId.localeCompare(y.orderId));
    };
    /** An order as a router answers it: the answering cell and the order (status and history). */
    const read = async (o: (typeof ofCell0)[number]) => {
      const r = await web(`${t.routers[0]!.url}/v1/orders/${o.id}`, { headers: { 'x-market-id': o.market } });
      return { cell: r.headers.get('x-cell-id'), status: r.status, order: await r.json() };
    };
    const before = await deliveriesAt('cell-0');
    assert.deepEqual(
      before.map((d) => d.status),
      ['DELIVERED', 'DELIVERED'],
    );
    const orders = await Promise.all(ofCell0.map(read));
    assert.deepEqual(
      orders.map((o) => o.cell),
      ['cell-0', 'cell-0'],
    );

    // Both copies (each taken every 2 s) hold the orders and deliveries: a copy begun after they were DELIVERED.
    const since = Date.now();
    const copyAt = (dir: string) =>
      Date.parse((JSON.parse(readFileSync(join(dir, 'backup.json'), 'utf8')) as { startedAt: string }).startedAt);
    const copies = [join(data, 'backups', 'cell-0'), join(data, 'backups', 'cell-0', 'delivery')];
    for (const end = Date.now() + 30_000; !copies.every((d) => copyAt(d) > since); await sleep(250))
      assert.ok(Date.now() < end, 'no copy of cell-0 taken within 30 s');

    // An order in flight at the death: its delivery service down first (held), so the order is
    // acknowledged (201) and stays PENDING, its order.created on cell-0's broker and never consumed;
    // the order copy holds it, the delivery copy does not. docs/kafka.md §Recovering a split cell from its backups.
    const t1 = Date.now();
    for (const n of [1, 2, 3]) {
      const held = await web(`${t.supervisor.url}/children/cell-0.delivery-${n}/kill?hold=1`, {
        method: 'POST',
        headers: { authorization: `Bearer ${supToken}` },
      });
      assert.equal(held.status, 200, await held.text());
    }
    const placedAt = Date.now();
    const posted = await web(`${t.routers[0]!.url}/v1/orders`, {
      method: 'POST',
      headers: { 'x-market-id': market0, 'idempotency-key': 'kafka-in-flight', 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: 'f-1', items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
    });
    const postedText = await posted.text();
    assert.equal(posted.status, 201, postedText);
    assert.equal(posted.headers.get('x-cell-id'), 'cell-0');
    const inFlight = { id: (JSON.parse(postedText) as { id: string }).id, market: market0 };
    for (const end = Date.now() + 30_000; copyAt(copies[0]!) <= placedAt; await sleep(250))
      assert.ok(Date.now() < end, "no copy of cell-0's order service taken within 30 s of the in-flight order");
    const heldRead = await read({ ...inFlight, cell: 'cell-0' });
    assert.equal((heldRead.order as { status: string }).status, 'PENDING', 'the in-flight order, its delivery service held');
    const inFlightMs = Date.now() - t1;

    // cell-0 dies: its order service and its three delivery instances killed and held down.
    const killed = await web(`${t.supervisor.url}/children/cell-0/kill?hold=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${supToken}` },
    });
    assert.deepEqual(((await killed.json()) as { name: string }[]).map((k) => k.name).sort(), [
      'cell-0.blue',
      ...[1, 2, 3].map((n) => `cell-0.delivery-${n}`),
    ]);
    // Refused while Consul still passes an instance of cell-0 (a few seconds): asked again until it runs.
    type Recovery = {
      markets: { market: string; to: string; orders: number; delivery?: { deliveries: number } }[];
      delivery?: { recoveryPoint: string };
    };
    let rec: Recovery | undefined;
    for (const end = Date.now() + 60_000; !rec; await sleep(1000)) {
      const r = await runCellctl(data, ['evacuate', 'cell-0', '--from-backup', '--json']);
      if (r.code === 0) rec = JSON.parse(r.stdout) as Recovery;
      else assert.ok(/has a passing instance/.test(r.stderr) && Date.now() < end, `cellctl evacuate cell-0 --from-backup: ${r.stderr}`);
    }
    // Every market of cell-0 to cell-1, the split cell with room (cell-2 has more, but runs as one process).
    assert.ok(rec.markets.some((m) => m.market === market0));
    assert.deepEqual(new Set(rec.markets.map((m) => m.to)), new Set(['cell-1']));
    const moved = rec.markets.find((m) => m.market === market0)!;
    assert.ok(moved.orders >= 2 && (moved.delivery?.deliveries ?? 0) >= 2, `${market0}: ${JSON.stringify(moved)}`);
    assert.ok(rec.delivery?.recoveryPoint, "the delivery copy's own recovery point");

    // Each order is read from cell-1 as it was (once the routers see the flip), and cell-1's delivery service holds its delivery as it was.
    for (const [i, o] of ofCell0.entries()) {
      let now = await read(o);
      for (const end = Date.now() + 20_000; now.cell !== 'cell-1' && Date.now() < end; await sleep(250)) now = await read(o);
      assert.deepEqual(now, { ...orders[i]!, cell: 'cell-1' }, `order ${o.id} after the recovery`);
    }
    assert.deepEqual(await deliveriesAt('cell-1'), before, "the orders' deliveries on cell-1's delivery service");

    // The in-flight order: on cell-1 with no delivery (its event stayed on cell-0's broker). cell-1's
    // reconciliation, its delivery service read in mutual TLS, finds it (pendingWithoutDelivery) once
    // the import hold ends, publishes it again and raises the alert: the metric and cellctl status's line.
    const t2 = Date.now();
    const cell1Port = (
      (await (await web(`${t.supervisor.url}/children`, { headers: { authorization: `Bearer ${supToken}` } })).json()) as {
        name: string;
        port?: number;
      }[]
    ).find((k) => k.name === 'cell-1.blue')!.port!;
    const pendingFound = async () => {
      const text = await (await cells!.fetch(`https://127.0.0.1:${cell1Port}/metrics`)).text();
      const m = /^cellsim_reconcile_mismatches_total\{[^}]*kind="pendingWithoutDelivery"[^}]*\} (\d+)/m.exec(text);
      return m ? Number(m[1]) : 0;
    };
    let alert = '';
    for (const end = Date.now() + 45_000; !alert; await sleep(500)) {
      const st = await runCellctl(data, ['status']);
      alert = /^reconciliation alert: .*cell-1 found \d+ mismatch.*$/m.exec(st.stdout)?.[0] ?? '';
      assert.ok(alert || Date.now() < end, `no reconciliation alert for cell-1 within 45 s: ${st.stdout}`);
    }
    assert.ok((await pendingFound()) >= 1, "cell-1's cellsim_reconcile_mismatches_total{kind=pendingWithoutDelivery}");
    // Then its saga runs on cell-1, once: DELIVERED, each status once in its history, one delivery.
    assert.deepEqual(await notDelivered(t.routers[0]!.url, [inFlight], 60_000), [], 'the in-flight order not DELIVERED on cell-1');
    const recovered = await read({ ...inFlight, cell: 'cell-1' });
    assert.equal(recovered.cell, 'cell-1');
    assert.deepEqual(
      (recovered.order as { history: { status: string }[] }).history.map((h) => h.status),
      ['PENDING', 'CONFIRMED', 'DELIVERING', 'DELIVERED'],
      `the in-flight order's history on cell-1: ${JSON.stringify(recovered.order)}`,
    );
    const itsDelivery = await deliveriesAt('cell-1', [inFlight.id]);
    assert.deepEqual(
      itsDelivery.map((d) => [d.orderId, d.status]),
      [[inFlight.id, 'DELIVERED']],
    );
    process.stderr.write(
      `# in-flight order: held and copied ${inFlightMs} ms, found and DELIVERED on cell-1 ${Date.now() - t2} ms; ${alert}\n`,
    );

    // The market goes on at cell-1: a new order there reaches DELIVERED.
    const r = await web(`${t.routers[1]!.url}/v1/orders`, {
      method: 'POST',
      headers: { 'x-market-id': market0, 'idempotency-key': 'kafka-recovered', 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: 'r-1', items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
    });
    const text = await r.text();
    assert.equal(r.status, 201, text);
    assert.equal(r.headers.get('x-cell-id'), 'cell-1');
    const next = { id: (JSON.parse(text) as { id: string }).id, market: market0 };
    assert.deepEqual(await notDelivered(t.routers[0]!.url, [next]), [], 'an order after the recovery not DELIVERED within 90 s');
    process.stderr.write(`# split-cell recovery: ${rec.markets.length} markets, ${Date.now() - began} ms\n`);
  });
});

describe('cellctl up --log flag errors', () => {
  it('refuses an unknown --log and a bad --split-cells, saying why and writing nothing', () => {
    const parent = mkdtempSync(join(tmpdir(), 'cellsim-up-kafka-flags-'));
    try {
      const data = join(parent, 'data');
      for (const [extra, said] of [
        [['--log', 'bogus'], /Allowed choices are sqlite, kafka/],
        [['--split-cells', 'cell-0'], /error: --split-cells is for --log kafka/],
        [
          ['--log', 'kafka', '--cells', '2', '--split-cells', 'cell-2'],
          /'cell-2' is not a cell of this topology \(cell-0\.\.cell-1, or 'none'\)/,
        ],
      ] as const) {
        const res = spawnSync(process.execPath, [CELLCTL, 'up', '--data', data, ...extra], { encoding: 'utf8', timeout: 60_000 });
        assert.equal(res.status, 1, `${extra.join(' ')}: ${res.stderr}`);
        assert.match(res.stderr, said);
        assert.equal(existsSync(data), false, 'a refused up wrote its data directory');
      }
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
