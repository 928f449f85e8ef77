/**
 * `cellctl up --tls` on real processes (Consul, cells, routers, control plane, Envoys): an order
 * routed over HTTPS through a router and through Envoy (both in mutual TLS to the cell, Envoy
 * configured by xDS over TLS with its certificate from SDS), a cell refusing a plain-HTTP
 * caller, a caller without a certificate and one with another role's certificate, and the control
 * plane's own calls to the cells in HTTPS with its certificate: `cellctl migrate` (orders follow
 * the market), the load measure's and the console's scrapes of cells' and routers' /metrics; the
 * control plane's own HTTP API in HTTPS (the console, and Envoy's hold cluster to it); `cellctl
 * experiment status` reading the HTTPS routers' per-arm counts through the topology's CA.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ManagedProcess } from '../infra/process.js';
import { cellctlJson, runCellctl, startUp } from '../infra/harness/up.js';
import { ConsulClient, isConsulError } from '../shared/consul/client.js';
import { nodeHttpTransport } from '../shared/consul/node-http.js';
import { tlsFiles } from '../shared/pki/names.js';
import { KvStore } from '../shared/consul/kv-store.js';
import { DEFAULT_PREFIX, KvLayout, MarketRecordSchema } from '../shared/kv.js';
import { SERVICE_CELL, SERVICE_ROUTER } from '../shared/consul.js';
import { MarketWriter } from '../shared/markets/writer.js';
import { httpsGet, servedSerial } from './tls-rig.test-helper.js';
import { consoleEvent } from './console-events.test-helper.js';
import { caClient } from '../shared/pki/client.js';
import { SupervisorClient } from '../control-plane/rollout/supervisor-client.js';
import { envoyArms } from '../control-plane/experiment-stats.js';

interface Topo {
  consul: { url: string };
  routers: { url: string }[];
  envoys: { url: string; admin: string }[];
  cells: { id: string; url: string; instances: { version?: string }[] }[];
  controlPlane: { url: string };
  supervisor: { url: string };
  prefix?: string;
}

/** One arm of one plane in `cellctl experiment status --json`. */
interface Arm {
  arm: string;
  color: string;
  requests: number;
  errors: number;
}

/** An HTTPS POST of an order (or a GET of `path`) in market sf trusting `ca`: status, the answering cell and the body. */
function postOrder(base: string, ca: string, key: string, path?: string): Promise<{ status: number; cell: string; body: string }> {
  const body = JSON.stringify({ customerId: 'c-1', items: [{ sku: 'burrito', qty: 1, priceCents: 1299 }], address: '1 Market St' });
  return new Promise((resolve) => {
    const req = request(
      `${base}${path ?? '/v1/orders'}`,
      {
        method: path ? 'GET' : 'POST',
        ca,
        timeout: 10_000,
        headers: { 'x-market-id': 'sf', 'idempotency-key': key, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, cell: String(res.headers['x-cell-id'] ?? ''), body: text }));
      },
    );
    req.on('error', (err) => resolve({ status: 0, cell: '', body: err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(path ? undefined : body);
  });
}

/** A plain-HTTP GET: its status, or 0 with the error when the server does not answer HTTP. */
function plainGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = get(url, { headers, timeout: 5000 }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

describe('cellctl up --tls (real processes)', () => {
  let data: string;
  let up: ManagedProcess | undefined;
  let topo: Topo;
  let ca: string;

  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'cellsim-up-tls-'));
    up = await startUp({ data, cells: 2, tls: true });
    topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
    ca = readFileSync(join(data, 'tls', 'ca.crt'), 'utf8');
  });
  after(async () => {
    await up?.stop(30_000);
    rmSync(data, { recursive: true, force: true });
  });

  it('routes an order over HTTPS through a router and through Envoy to the owning cell', async () => {
    const planes = [topo.routers[0]!.url, topo.envoys[0]!.url];
    for (const base of [...planes, ...topo.cells.map((c) => c.url)]) assert.match(base, /^https:\/\//, base);
    for (const base of planes) {
      const res = await postOrder(base, ca, `tls-${base}`);
      assert.equal(res.status, 201, `${base}: ${res.body}`);
      assert.match(res.cell, /^cell-\d$/, `${base}: the cell's id header`);
    }
  });

  it('Consul serves its API in HTTPS only: read with the CA and a token, nothing over plain HTTP or without the CA', async () => {
    assert.match(topo.consul.url, /^https:\/\//);
    const token = readFileSync(join(data, 'tokens', 'consul-router'), 'utf8').trim();
    const withCa = new ConsulClient({ url: topo.consul.url, token, ca });
    assert.ok((await withCa.kv.list('cellsim/markets/')).value.length > 0, "the router's token reads the market map over HTTPS");
    const noCa = new ConsulClient({ url: topo.consul.url, token, transport: nodeHttpTransport() });
    await assert.rejects(
      noCa.kv.list('cellsim/markets/'),
      (e) => isConsulError(e, 'consul_unavailable'),
      'no CA: the certificate is not trusted',
    );
    const plain = await plainGet(`${topo.consul.url.replace('https:', 'http:')}/v1/kv/cellsim/markets/sf`, {});
    assert.notEqual(plain.status, 200, 'plain HTTP reads nothing');
  });

  it("passes each router's Consul check, made in HTTPS against its HTTPS edge", async () => {
    const management = readFileSync(join(data, 'tokens', 'consul-management'), 'utf8').trim();
    const consul = new ConsulClient({ url: topo.consul.url, token: management, ca });
    let checks: string[] = [];
    for (const until = Date.now() + 15_000; Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
      const { value } = await consul.health.service(SERVICE_ROUTER);
      checks = value.flatMap((e) => e.Checks.filter((c) => c.ServiceID === e.Service.ID).map((c) => `${e.Service.ID} ${c.Status}`));
      if (value.length === topo.routers.length && checks.every((c) => c.endsWith(' passing'))) break;
    }
    assert.deepEqual(
      checks.filter((c) => !c.endsWith(' passing')),
      [],
      `every router passing (a plain-HTTP check of an HTTPS edge stays critical): ${checks.join(', ')}`,
    );
    assert.equal(checks.length, topo.routers.length, `one check per router: ${checks.join(', ')}`);
  });

  it('a cell refuses a plain-HTTP caller, one without a certificate and one with another role', async () => {
    const cell = topo.cells.find((c) => c.id === 'cell-1')!;
    const headers = { 'x-market-id': 'sf' };
    const plain = await plainGet(`${cell.url.replace('https:', 'http:')}/v1/orders/ord_x`, headers);
    assert.equal(plain.status, 0, 'plain HTTP gets no HTTP answer');
    const anonymous = await httpsGet(`${cell.url}/v1/orders/ord_x`, ca, undefined, headers);
    assert.equal(anonymous.status, 403, anonymous.body);
    assert.match(anonymous.body, /"forbidden"/);
    const other = await httpsGet(`${cell.url}/v1/orders/ord_x`, ca, tlsFiles(join(data, 'tls'), 'control-plane'), headers);
    assert.equal(other.status, 403, other.body);
  });

  it("cellctl migrate moves a market between mTLS cells, and the market's orders follow it", async () => {
    const router = topo.routers[0]!.url;
    const first = await postOrder(router, ca, 'tls-migrate-1');
    assert.equal(first.status, 201, first.body);
    const from = first.cell;
    const to = topo.cells.map((c) => c.id).find((id) => id !== from)!;
    const mig = await cellctlJson<{ state: string; rows: { snapshot: number } }>(data, ['migrate', 'sf', '--to', to]);
    assert.equal(mig.state, 'cleanup-wait', JSON.stringify(mig));
    assert.ok(mig.rows.snapshot > 0, 'the snapshot copied rows');
    const id = (JSON.parse(first.body) as { id: string }).id;
    // The router follows the map change within its watch; the moved order answers from the new owner.
    let moved = { status: 0, cell: '', body: '' };
    for (let i = 0; i < 50 && moved.cell !== to; i++) {
      moved = await postOrder(router, ca, 'tls-migrate-1', `/v1/orders/${id}`);
      if (moved.cell !== to) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(moved.status, 200, moved.body);
    assert.equal(moved.cell, to, 'the moved order answers from the new owner');
    const next = await postOrder(router, ca, 'tls-migrate-2');
    assert.equal(next.status, 201, next.body);
    assert.equal(next.cell, to, 'a new order goes to the new owner');
  });

  it("measures every cell's load from its /metrics over mTLS", async () => {
    const { load } = await cellctlJson<{ load: { cells: { cell: string; scraped: number }[] } }>(data, [
      ...['rebalance', '--dry-run', '--window', '1s'],
    ]);
    assert.equal(load.cells.length, 2, JSON.stringify(load));
    for (const c of load.cells) assert.ok(c.scraped >= 1, `${c.cell}: no instance scraped (${JSON.stringify(load)})`);
  });

  it('the console shows the cells healthy and the routers, Envoys and cells scraped with rates', async () => {
    // The control plane's HTTP API is HTTPS (--api-tls): plain HTTP gets no answer, a client trusting the CA logs in.
    const cp = topo.controlPlane.url;
    assert.match(cp, /^https:\/\//);
    assert.equal((await plainGet(`${cp.replace('https:', 'http:')}/readyz`, {})).status, 0, 'plain HTTP to the control plane');
    const client = caClient(ca);
    const operator = readFileSync(join(data, 'tokens', 'operator'), 'utf8').trim();
    const login = await client.fetch(`${cp}/ui/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: operator }),
      redirect: 'manual',
    });
    assert.equal(login.status, 303);
    assert.match(login.headers.get('set-cookie') ?? '', /;\s*Secure/i, 'the session cookie is Secure over HTTPS');
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    let sent = 0;
    const stop = Date.now() + 20_000;
    const traffic = (async () => {
      while (Date.now() < stop) {
        const res = await postOrder(topo.routers[0]!.url, ca, `tls-console-${sent++}`);
        assert.equal(res.status, 201, res.body);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const seen = await consoleEvent(client.fetch, cp, cookie, 20_000, (e) => {
      const router = e.rates.find((p) => p.plane === 'router');
      return (
        router !== undefined &&
        router.answered === router.targets &&
        (router.last?.rps ?? 0) > 0 &&
        /from [1-9]\d* of/.test(e.regions.heat ?? '')
      );
    });
    await traffic.catch(() => undefined);
    await client.close();
    assert.ok(seen, 'the console sent an event');
    const router = seen.rates.find((p) => p.plane === 'router');
    assert.ok(router && router.targets > 0 && router.answered === router.targets, `routers scraped: ${JSON.stringify(seen.rates)}`);
    assert.ok((router.last?.rps ?? 0) > 0, `router rate: ${JSON.stringify(router)}`);
    const heat = /from (\d+) of (\d+) cell instances/.exec(seen.regions.heat ?? '');
    assert.ok(heat && heat[1] === heat[2] && Number(heat[1]) >= 2, `cells scraped: ${seen.regions.heat}`);
    for (const c of topo.cells)
      assert.match(seen.regions.cells ?? '', new RegExp(`data-cell="${c.id}" class="healthy"`), `${c.id} healthy`);
  });

  it('Envoy holds a request to a frozen market (its hold cluster in TLS to the HTTPS API of the control plane), answers market_migrating, and releases it to the owner over HTTPS', async () => {
    const consul = new ConsulClient({
      url: topo.consul.url,
      token: readFileSync(join(data, 'tokens', 'consul-control-plane'), 'utf8').trim(),
      ca,
    });
    const layout = new KvLayout(topo.prefix ?? DEFAULT_PREFIX);
    const writer = new MarketWriter(consul, layout);
    const active = (await new KvStore(consul).getJson(MarketRecordSchema, layout.marketKey('sf')))!.value;
    const envoy = topo.envoys[0]!.url;
    await writer.put('sf', { ...active, state: 'frozen' });
    try {
      // Until Envoy has the frozen route the read answers 200 at once; then it is held.
      let held = { status: 200, cell: '', body: '' };
      let ms = 0;
      for (let i = 0; i < 50 && held.status === 200; i++) {
        const t0 = Date.now();
        held = await postOrder(envoy, ca, `tls-hold-${i}`, '/v1/orders?limit=1');
        ms = Date.now() - t0;
        if (held.status === 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(held.status, 503, held.body);
      assert.match(held.body, /"market_migrating"/, 'held by the control plane, not refused at the hold cluster');
      assert.ok(ms >= 1000, `held ${ms} ms before the answer`);
      // Released while held: the hold endpoint's 307 keeps the client's scheme (https), so Envoy
      // follows it to the owner and the client gets the cell's answer, never the redirect (an
      // http: Location reached the client: docs/tls.md §Held requests behind an HTTPS edge).
      const pending = postOrder(envoy, ca, 'tls-hold-release', '/v1/orders?limit=1');
      await new Promise((r) => setTimeout(r, 300));
      await writer.put('sf', active);
      const released = await pending;
      assert.equal(released.status, 200, `released read: ${released.status} ${released.body}`);
      assert.equal(released.cell, active.cell);
    } finally {
      await writer.put('sf', active);
    }
  });
  it('cellctl status, cells and markets read the HTTPS control plane (and status the supervisor) of the topology', async () => {
    const [status, cells, markets] = await Promise.all([
      cellctlJson<{ cells: { id: string; health: string }[]; routers: unknown[]; processes: { name: string; state: string }[] | null }>(
        data,
        ['status'],
      ),
      cellctlJson<{ id: string; health: string }[]>(data, ['cells']),
      cellctlJson<{ market: string; cell: string }[]>(data, ['markets']),
    ]);
    for (const c of topo.cells) {
      assert.equal(status.cells.find((v) => v.id === c.id)?.health, 'healthy', `status: ${c.id}`);
      assert.equal(cells.find((v) => v.id === c.id)?.health, 'healthy', `cells: ${c.id}`);
    }
    assert.ok(status.routers.length >= 1, 'status lists the routers');
    assert.ok(
      status.processes?.some((p) => p.name.startsWith('router') && p.state === 'running'),
      JSON.stringify(status.processes),
    );
    assert.ok(
      markets.some((m) => m.market === 'sf' && topo.cells.some((c) => c.id === m.cell)),
      JSON.stringify(markets),
    );
  });

  it("cellctl experiment status counts each arm's requests on both planes, scraping the HTTPS routers through the topology's CA", async () => {
    const consul = new ConsulClient({
      url: topo.consul.url,
      token: readFileSync(join(data, 'tokens', 'consul-router'), 'utf8').trim(),
      ca,
    });
    const layout = new KvLayout(topo.prefix ?? DEFAULT_PREFIX);
    const record = (await new KvStore(consul).getJson(MarketRecordSchema, layout.marketKey('sf')))!.value;
    const cell = topo.cells.find((c) => c.id === record.cell)!;
    // The variant color needs instances of its own: the supervisor starts the cell's green one, as a rollout does.
    const supervisor = new SupervisorClient(topo.supervisor.url, readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim());
    await supervisor.startCell(cell.id, 'green', cell.instances[0]?.version ?? 'v1');
    const client = caClient(ca);
    try {
      const started = await cellctlJson<{ record: { experiment?: { color: string } } }>(data, [
        ...['experiment', 'start', 'sf', '--header', 'x-customer-id', '--percent', '50'],
      ]);
      assert.equal(started.record.experiment?.color, 'green', JSON.stringify(started));
      // Keyed reads through a router and an Envoy until Envoy's admin counts both one-color clusters
      // (Envoy splits once they are warm, ~3 s after the start); then `status` must count every arm.
      const armsCounted = async () => {
        const text = await client.text(`${topo.envoys[0]!.admin}/stats/prometheus`, 2000);
        return envoyArms([text], cell.id, { variant: 'green', control: 'blue' }).every((a) => a.requests > 0);
      };
      for (let round = 0, until = Date.now() + 15_000; round === 0 || (!(await armsCounted()) && Date.now() < until); round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, 250));
        for (const base of [topo.routers[0]!.url, topo.envoys[0]!.url])
          for (let i = 0; i < 10; i++) {
            const res = await client.fetch(`${base}/v1/orders?limit=1`, {
              headers: { 'x-market-id': 'sf', 'x-customer-id': `cust-${round}-${i}` },
              signal: AbortSignal.timeout(10_000),
            });
            const body = await res.text();
            assert.equal(res.status, 200, `${base}: ${body}`);
          }
      }
      const status = await cellctlJson<{ stats: { router: Arm[]; envoy: Arm[]; unreachable: string[] } | null }>(data, [
        ...['experiment', 'status', 'sf'],
      ]);
      const stats = status.stats;
      assert.ok(stats, JSON.stringify(status));
      assert.deepEqual(stats.unreachable, [], 'every router and Envoy admin answered');
      for (const plane of ['router', 'envoy'] as const)
        for (const a of stats[plane])
          assert.ok(a.requests > 0 && a.errors === 0, `${plane} ${a.arm} (${a.color}): ${JSON.stringify(stats)}`);
    } finally {
      await runCellctl(data, ['experiment', 'stop', 'sf']);
      await supervisor.stopCell(cell.id, 'green');
      await client.close();
    }
  });

  it('Consul takes a rotated leaf without a restart (cellctl certs rotate --component consul), while orders keep routing', async () => {
    const port = Number(new URL(topo.consul.url).port);
    const consulPid = () =>
      (JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as { consul: { pid: number | null } }).consul.pid;
    const consul = new ConsulClient({
      url: topo.consul.url,
      token: readFileSync(join(data, 'tokens', 'consul-router'), 'utf8').trim(),
      ca,
    });
    const passingCells = async () => (await consul.health.service(SERVICE_CELL, { passing: true })).value.length;
    const pid = consulPid();
    assert.ok(pid, 'topology.json names the Consul pid');
    const cellsBefore = await passingCells();
    // All along, orders read through the router and the passing cell instances counted, every 100 ms.
    const answers: number[] = [];
    const passing: number[] = [];
    let reading = true;
    const reads = (async () => {
      for (let i = 0; reading; i++) {
        answers.push((await postOrder(topo.routers[0]!.url, ca, `rotate-consul-${i}`, '/v1/orders?limit=1')).status);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const counts = (async () => {
      while (reading) {
        passing.push(await passingCells().catch(() => -1));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      const out = await cellctlJson<{ rotated: { name: string; previousSerial: string; serial: string }[] }>(data, [
        ...['certs', 'rotate', '--component', 'consul'],
      ]);
      const leaf = out.rotated.find((r) => r.name === 'consul')!;
      leaf.serial = leaf.serial.toLowerCase().replace(/^0+/, '');
      assert.notEqual(leaf.serial, leaf.previousSerial);
      const started = Date.now();
      let served = '';
      while (Date.now() - started < 10_000 && (served = await servedSerial(port, ca)) !== leaf.serial)
        await new Promise((r) => setTimeout(r, 200));
      assert.equal(
        served,
        leaf.serial,
        `a new connection to Consul's HTTPS port gets the new leaf within 10 s (was ${leaf.previousSerial})`,
      );
      assert.equal(consulPid(), pid, 'the same Consul process');
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      reading = false;
      await Promise.all([reads, counts]);
    }
    assert.ok(answers.length > 0 && answers.every((s) => s === 200), `every read through the router answered 200: ${answers.join(',')}`);
    // A reload of a dev agent without its state directory drops them (infra/consul-agent.ts consulArgs).
    assert.ok(
      passing.every((n) => n === cellsBefore),
      `every cell instance registered and passing throughout (${cellsBefore}): ${passing.join(',')}`,
    );
    assert.ok((await consul.kv.list('cellsim/markets/')).value.length > 0, 'Consul reads over a new connection');
    assert.equal(await passingCells(), cellsBefore, 'every cell instance still registered and passing');
    const status = await cellctlJson<{ cells: { id: string; health: string }[] }>(data, ['status']);
    for (const c of topo.cells) assert.equal(status.cells.find((v) => v.id === c.id)?.health, 'healthy', `status: ${c.id}`);
  });
});
