/**
 * `cellctl up --hosts --tls` on real network namespaces (root only; CI runs as root): every hop
 * that is TLS on one host is TLS across hosts. From the client host, each component answers HTTPS
 * under a client that checks the dialled address against the certificate (curl: the certificates
 * name their hosts' addresses), and answers nothing useful in plain HTTP; a cell refuses `/v1` to
 * a caller without a router's or an Envoy's certificate; the three Consul servers form one Raft
 * cluster over RPC in mutual TLS, and an agent without the gossip key cannot join it; orders flow
 * through both routers and both Envoys (mutual TLS to the cell hosts, Envoy configured by xDS over
 * TLS with SDS); and the four network drills pass (`host-partition` in its CI length, the other
 * three in 14 s each). The run's namespaces and processes are removed whatever the verdict.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { requireBinary } from '../infra/binaries.js';
import { ProcessStartError, waitFor, type ManagedProcess } from '../infra/process.js';
import { startUp } from '../infra/harness/up.js';
import { groupMembers } from '../infra/procs.js';
import { assertOrdersFromClient } from './hosts/orders.test-helper.js';
import { assertEdgePartition, assertLeaderLoss, assertSplitBrain, runDrill } from './hosts/drills.test-helper.js';
import { ConsulClient } from '../shared/consul/client.js';
import { readConsulToken } from '../shared/consul-acl.js';
import { SERVICE_CELL } from '../shared/consul-watch.js';
import { tlsDir, tlsFiles } from '../shared/pki/names.js';
import { removeRun, runsPresent } from './hosts/netns.js';
import { caClient } from '../shared/pki/client.js';
import { servedSerial } from './tls-rig.test-helper.js';
import { portPlan } from './ports.js';
import { consoleEvent, type ConsoleEvent } from './console-events.test-helper.js';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));

interface Topo {
  hosts: { run: string; hosts: { name: string; role: string; ip: string; ns: string }[] };
  consul: { url: string };
  routers: { id: string; url: string }[];
  envoys: { id: string; url: string; admin: string }[];
  cells: { id: string; url: string }[];
  controlPlane: { url: string };
  supervisor: { url: string };
}

const exec = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeout = 60_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, { env, timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });

describe('cellctl up --hosts --tls: every hop in TLS across hosts', () => {
  assert.equal(process.getuid?.(), 0, 'this test makes network namespaces: it runs as root (as CI does)');
  let data: string;
  let sup: ManagedProcess | undefined;
  let topo: Topo | undefined;
  /** The run's id (cs-<run>-*), from topology.json or, after a failed start, from the supervisor's output. */
  let run: string | undefined;
  let ca: string;
  const host = (name: string) => topo!.hosts.hosts.find((h) => h.name === name)!;

  /** curl from the client host: the HTTP status (000 for none), curl's exit code and the body. */
  const curl = async (url: string, more: string[] = []) => {
    const args = ['netns', 'exec', host('client').ns, 'curl', '-sS', '--max-time', '5', '-w', '\n%{http_code}', ...more, url];
    const r = await exec('ip', args);
    const lines = r.stdout.split('\n');
    return { code: r.code, status: lines.pop() ?? '', body: lines.join('\n'), stderr: r.stderr.trim() };
  };

  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'cellsim-hosts-tls-'));
    ca = tlsFiles(tlsDir(data), '').ca;
    try {
      sup = await startUp({ data, name: 'cellctl-up-hosts-tls', hosts: true, tls: true, cells: 3, readyTimeoutMs: 240_000 });
    } catch (err) {
      if (err instanceof ProcessStartError) run = /cs-([0-9a-f]{4})-br/.exec(err.output)?.[1];
      throw err;
    }
    topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
    run = topo.hosts.run;
  });
  after(async () => {
    const groups = new Set<number>();
    try {
      if (topo) {
        const token = readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim();
        const res = await caClient(readFileSync(ca, 'utf8'))
          .fetch(`${topo.supervisor.url}/children`, { headers: { authorization: `Bearer ${token}` } })
          .catch(() => undefined);
        for (const k of ((await res?.json()) ?? []) as { wrapperPid: number }[]) groups.add(k.wrapperPid);
      }
      await sup?.stop(60_000);
      const present = run === undefined ? undefined : (await runsPresent()).get(run);
      const left = present ? [...present.namespaces, ...present.links] : [];
      // Removed whatever the verdict (a failed start included), so that a failing run leaves nothing either.
      if (run !== undefined && left.length > 0) await removeRun(run);
      assert.deepEqual(left, [], 'no namespace or link of the run is left after the stop');
      const procs = [...groups].flatMap((g) => groupMembers(g).map((p) => `${p.pid} ${p.comm}`));
      assert.deepEqual(procs, [], 'no process of any child is left');
    } finally {
      await sup?.stop(60_000);
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('serves every component in HTTPS at its host address, whose certificate names that address; plain HTTP gets no answer', async () => {
    const t = topo!;
    const https = [
      ...t.cells.map((c) => `${c.url}/healthz`),
      ...t.routers.map((r) => `${r.url}/healthz`),
      `${t.controlPlane.url}/healthz`,
      ...['consul-1', 'consul-2', 'consul-3', 'cp', 'edge-1', 'cell-0'].map((h) => `https://${host(h).ip}:8500/v1/status/leader`),
    ];
    for (const url of https) {
      assert.equal(new URL(url).protocol, 'https:', url);
      assert.notEqual(new URL(url).hostname, '127.0.0.1', url);
      // curl checks the address it dialled against the certificate's IP names (no --insecure).
      const r = await curl(url, ['--cacert', ca]);
      assert.equal(r.status, '200', `${url}: ${r.stderr}`);
    }
    // A cell, a router and the control plane speak nothing but TLS: a plain request gets no HTTP answer.
    for (const base of [t.cells[1]!.url, t.routers[0]!.url, t.controlPlane.url]) {
      const plain = base.replace(/^https:/, 'http:');
      const r = await curl(`${plain}/healthz`);
      assert.equal(r.status, '000', `${plain}/healthz answered ${r.status}`);
      assert.notEqual(r.code, 0);
    }
    // Consul's HTTP port is HTTPS only: Go's TLS server answers a plain request with a 400 and no more.
    const plainConsul = await curl(`http://${host('consul-1').ip}:8500/v1/status/leader`);
    assert.equal(plainConsul.status, '400');
    assert.match(plainConsul.body, /HTTP request to an HTTPS server/);
  });

  it("refuses /v1 of a cell on another host to a caller without a router's or an Envoy's certificate", async () => {
    const r = await curl(`${topo!.cells[1]!.url}/v1/orders?market=sf&limit=1`, ['--cacert', ca, '-H', 'x-market-id: sf']);
    assert.equal(r.status, '403', `${r.status} ${r.body} ${r.stderr}`);
  });

  it('runs three Consul servers as one Raft cluster (RPC in mutual TLS) with every cell registered, read over HTTPS', async () => {
    const consul = new ConsulClient({
      url: `https://${host('consul-2').ip}:8500`,
      token: readConsulToken(data, 'management'),
      ca: readFileSync(ca, 'utf8'),
    });
    const peers = await consul.status.peers({ timeoutMs: 5000 });
    assert.deepEqual(peers.map((p) => p.split(':')[0]).sort(), ['consul-1', 'consul-2', 'consul-3'].map((h) => host(h).ip).sort());
    const cells = (await consul.catalog.service(SERVICE_CELL)).value;
    assert.deepEqual(
      cells.map((s) => [s.Node, s.ServiceAddress]).sort(),
      ['cell-0', 'cell-1', 'cell-2'].map((c) => [c, host(c).ip]),
    );
  });

  it('keeps a Consul agent without the gossip key out of the cluster: Serf gossip between hosts is encrypted', async () => {
    // A rogue agent on the client host, told every address but not the key, tries to join consul-1's Serf port.
    const c = host('client');
    const server = host('consul-1');
    const dir = mkdtempSync(join(tmpdir(), 'cellsim-rogue-consul-'));
    const consul = requireBinary('consul');
    const rogue = spawn('ip', [
      ...['netns', 'exec', c.ns, consul, 'agent', `-data-dir=${dir}`, '-node=rogue-agent', `-bind=${c.ip}`, '-client=127.0.0.1'],
      ...['-http-port=-1', '-dns-port=-1', '-grpc-port=-1', `-retry-join=${server.ip}:${portPlan().consul.serfLan}`, '-retry-interval=1s'],
    ]);
    let out = '';
    for (const s of [rogue.stdout, rogue.stderr]) s.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise((r) => rogue.once('exit', r));
    try {
      await waitFor(
        async () => /Failed to join|Join cluster completed/.test(out),
        30_000,
        () => `the rogue agent tried to join: ${out}`,
      );
      const members = await exec(consul, ['members', `-http-addr=https://${server.ip}:8500`, `-ca-file=${ca}`], {
        ...process.env,
        CONSUL_HTTP_TOKEN: readConsulToken(data, 'management'),
      });
      assert.equal(members.code, 0, members.stderr);
      const names = members.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]);
      assert.ok(names.includes('consul-1') && names.includes('edge-1'), names.join(' '));
      assert.ok(!names.includes('rogue-agent'), `the rogue agent is a member: ${names.join(' ')}`);
      // The join reached the server, which would not take gossip in clear.
      assert.match(out, new RegExp(`Failed to join ${server.ip.replace(/\./g, '\\.')}:\\d+: Remote state is encrypted`));
    } finally {
      rogue.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("serves the supervisor's control channel on the bridge in HTTPS only; cellctl status reads it trusting the CA", async () => {
    const url = new URL(topo!.supervisor.url);
    assert.equal(url.protocol, 'https:');
    const auth = `authorization: Bearer ${readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim()}`;
    // From a host, as the control plane on cp reaches it: curl checks the bridge's address against the certificate.
    const r = await curl(`${url.origin}/children`, ['--cacert', ca, '-H', auth]);
    assert.equal(r.status, '200', `${r.status} ${r.stderr}`);
    // In plain HTTP the token would cross the bridge in clear: no HTTP answer.
    const plain = await curl(`http://${url.host}/children`, ['-H', auth]);
    assert.equal(plain.status, '000', `plain HTTP answered ${plain.status}`);
    const status = await exec(process.execPath, [CELLCTL, 'status', '--json'], { ...process.env, CELLSIM_DATA: data });
    assert.equal(status.code, 0, status.stderr);
    const procs = (JSON.parse(status.stdout) as { processes: { name: string; host?: string }[] | null }).processes;
    assert.ok(procs, 'cellctl status read no process from the supervisor');
    assert.equal(procs.find((p) => p.name === 'control-plane')?.host, 'cp');
  });

  it("keeps Envoy's admin on its host's loopback; other hosts read /ready and /stats/prometheus only, in mutual TLS with a reader's certificate", async () => {
    const t = topo!;
    const edge = host('edge-1');
    const admin = new URL(t.envoys[0]!.admin);
    assert.equal(admin.protocol, 'https:', t.envoys[0]!.admin);
    assert.equal(admin.hostname, edge.ip);
    const files = (name: string) => tlsFiles(tlsDir(data), name);
    const as = (name: string) => ['--cacert', ca, '--cert', files(name).cert, '--key', files(name).key];
    // The admin interface itself answers on edge-1's loopback only.
    const inside = await exec('ip', [
      'netns',
      'exec',
      edge.ns,
      'curl',
      '-sS',
      '--max-time',
      '5',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${admin.port}/server_info`,
    ]);
    assert.equal(inside.stdout, '200', `the admin on edge-1's loopback: ${inside.stdout} ${inside.stderr}`);
    // From the client host, plain HTTP to the admin port gets no HTTP answer, a POST to /quitquitquit included.
    for (const more of [[], ['-X', 'POST']]) {
      const path = more.length > 0 ? '/quitquitquit' : '/server_info';
      const r = await curl(`http://${admin.host}${path}`, more);
      assert.equal(r.status, '000', `plain ${path} answered ${r.status}: ${r.body}`);
    }
    // In TLS, no client certificate, or one of the CA naming neither reader (the router's), fails the handshake.
    for (const more of [['--cacert', ca], as('router')]) {
      const r = await curl(`${admin.origin}/ready`, more);
      assert.equal(r.status, '000', `/ready with ${more.length > 2 ? "the router's certificate" : 'no certificate'} answered ${r.status}`);
      assert.notEqual(r.code, 0);
    }
    // With a reader's certificate: the two read paths, and nothing else of the admin.
    for (const reader of ['supervisor', 'control-plane']) {
      const ready = await curl(`${admin.origin}/ready`, as(reader));
      assert.equal(`${ready.status} ${ready.body.trim()}`, '200 LIVE', `${reader}: ${ready.stderr}`);
    }
    const stats = await curl(`${admin.origin}/stats/prometheus`, as('control-plane'));
    assert.equal(stats.status, '200', stats.stderr);
    assert.match(stats.body, /envoy_http_downstream_rq_total\{envoy_http_conn_manager_prefix="edge"\}/);
    for (const [path, more] of [
      ['/server_info', []],
      ['/config_dump', []],
      ['/clusters', []],
      ['/quitquitquit', ['-X', 'POST']],
      ['/ready', ['-X', 'POST']],
    ] as const) {
      const r = await curl(`${admin.origin}${path}`, [...as('control-plane'), ...more]);
      assert.equal(r.status, '404', `${more.join(' ')} ${path} answered ${r.status}`);
    }
    assert.equal((await curl(`${admin.origin}/ready`, as('supervisor'))).status, '200', 'Envoy still runs after the refused /quitquitquit');
  });

  it("reads Envoy's admin paths from other hosts as before: the supervisor's probes, the console on cp, cellctl experiment status", async () => {
    const t = topo!;
    const cellctl = (args: string[]) => exec(process.execPath, [CELLCTL, ...args], { ...process.env, CELLSIM_DATA: data });
    // The supervisor's readiness and liveness probes of both Envoys go through the TLS listener.
    const status = await cellctl(['status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    const procs = (JSON.parse(status.stdout) as { processes: { name: string; state: string }[] | null }).processes ?? [];
    const envoys = t.envoys.map((e) => `${e.id} ${procs.find((p) => p.name === e.id)?.state}`);
    // The console on cp scrapes both Envoys' /stats/prometheus with the control plane's certificate.
    const client = caClient(readFileSync(ca, 'utf8'));
    let consoleRates: { targets: number; answered: number } | undefined;
    try {
      const login = await client.fetch(`${t.controlPlane.url}/ui/login`, {
        method: 'POST',
        body: new URLSearchParams({ token: readFileSync(join(data, 'tokens', 'read'), 'utf8').trim() }),
        redirect: 'manual',
      });
      assert.equal(login.status, 303);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
      // The first event where every Envoy answered, else the last read within 20 s.
      const envoyRates = (e: ConsoleEvent) => e.rates.find((p) => p.plane === 'envoy');
      const seen = await consoleEvent(client.fetch, t.controlPlane.url, cookie, 20_000, (e) => {
        const r = envoyRates(e);
        return r !== undefined && r.targets > 0 && r.answered === r.targets;
      });
      consoleRates = seen && envoyRates(seen);
    } finally {
      await client.close();
    }
    // cellctl experiment status scrapes them too, for a market with an experiment (no traffic needed).
    const started = await cellctl(['experiment', 'start', 'sf', '--header', 'x-customer-id', '--percent', '50', '--json']);
    assert.equal(started.code, 0, started.stderr);
    let experiment: { envoyArms: number; unreachable: string[] } | undefined;
    try {
      const st = await cellctl(['experiment', 'status', 'sf', '--json']);
      assert.equal(st.code, 0, st.stderr);
      const stats = (JSON.parse(st.stdout) as { stats: { envoy: unknown[]; unreachable: string[] } | null }).stats;
      experiment = stats ? { envoyArms: stats.envoy.length, unreachable: stats.unreachable } : undefined;
    } finally {
      const stopped = await cellctl(['experiment', 'stop', 'sf']);
      assert.equal(stopped.code, 0, stopped.stderr);
    }
    // One verdict for the three readers, so that a failure shows all three.
    assert.deepEqual(
      { envoys, console: consoleRates && { targets: consoleRates.targets, answered: consoleRates.answered }, experiment },
      {
        envoys: t.envoys.map((e) => `${e.id} running`),
        console: { targets: 2, answered: 2 },
        experiment: { envoyArms: 2, unreachable: [] },
      },
    );
  });

  it('serves orders from the client host through both routers and both Envoys over HTTPS, in mutual TLS to the cell hosts', async () => {
    const t = topo!;
    const edges = [...t.routers, ...t.envoys];
    assert.ok(edges.every((e) => e.url.startsWith('https://')));
    await assertOrdersFromClient({
      edges,
      ns: host('client').ns,
      resultsFile: join(data, 'hosts-tls.results'),
      keyPrefix: 'hosts-tls',
      rootCerts: ca,
    });
  });

  it('takes a rotated Consul leaf on every agent (servers and client agents) without a restart; Raft and the catalog go on', async () => {
    const agents = (topo!.hosts.hosts as { name: string; ip: string; consul?: string }[]).filter((h) => h.consul && h.consul !== 'none');
    assert.ok(agents.length >= 4, JSON.stringify(agents));
    const caPem = readFileSync(ca, 'utf8');
    const port = Number(new URL(topo!.consul.url).port);
    const served = (ip: string) => servedSerial(port, caPem, undefined, ip).catch((err: Error) => `error: ${err.message}`);
    const r = await exec(process.execPath, [CELLCTL, 'certs', 'rotate', '--data', data, '--component', 'consul', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const leaf = (JSON.parse(r.stdout) as { rotated: { name: string; serial: string }[] }).rotated.find((x) => x.name === 'consul')!;
    const serial = leaf.serial.toLowerCase().replace(/^0+/, '');
    let stale: string[] = [];
    await waitFor(
      async () => {
        const got = await Promise.all(agents.map(async (h) => [h.name, await served(h.ip)] as const));
        stale = got.filter(([, s]) => s !== serial).map(([n, s]) => `${n}: ${s}`);
        return stale.length === 0;
      },
      10_000,
      () => `every Consul agent serving the rotated leaf ${serial} on a new connection (not yet: ${stale.join(', ')})`,
      200,
    );
    // RPC between agents and servers is mutual TLS with the same leaf: the cluster still answers.
    const consul = new ConsulClient({ url: `https://${host('cell-0').ip}:8500`, token: readConsulToken(data, 'management'), ca: caPem });
    assert.equal((await consul.status.peers({ timeoutMs: 5000 })).length, 3);
    assert.equal((await consul.catalog.service(SERVICE_CELL)).value.length, 3);
  });

  it('host-partition passes under TLS: a cut cell host fails only its own markets, which recover once the link is back', async (t) => {
    const { report } = await runDrill(data, ['host-partition']);
    const failed = report.verdicts.filter((v) => !v.pass).map((v) => `${v.name}: ${v.measured}`);
    for (const v of report.verdicts)
      if (/^(time to isolate|passing in Consul again)/.test(v.name)) t.diagnostic(`${v.name}: ${v.measured}`);
    // The router's time to isolate a cut host is a known miss of the 1 s crash target, held to 2 s
    // (docs/drills.md §Network drills; as in topology/hosts/multi-host.test.ts). Every other verdict must pass.
    assert.deepEqual(
      failed.filter((f) => !f.startsWith('time to isolate (router)')),
      [],
    );
    const isolation = report.verdicts.find((v) => v.name === 'time to isolate (router)')?.measured ?? 'none';
    assert.ok(/^\d+ ms$/.test(isolation) && parseInt(isolation, 10) <= 2000, `router time to isolate ${isolation}, at most 2,000 ms`);
    for (const name of [
      'spill (failures outside the faulted cell)',
      'fault observed (router)',
      'fault observed (envoy)',
      'recovered (router)',
      'recovered (envoy)',
      'passing in Consul again after the link came back (cell-1)',
    ])
      assert.ok(
        report.verdicts.some((v) => v.name === name && v.pass),
        name,
      );
  });

  // The three other network drills, each 14 s (24 s and 20 s in topology/hosts/multi-host.test.ts):
  // about 60 s of CI for the three together; their sabotaged runs stay in the plain test.
  it('consul-leader-loss passes under TLS: the Raft leader (RPC in mutual TLS) killed under load, another elected, no request failed, a move right after succeeded', async () => {
    assertLeaderLoss(await runDrill(data, ['consul-leader-loss'], '14s'));
  });

  it('edge-consul-partition passes under TLS: an edge host cut off from Consul and the control plane keeps routing, a move meanwhile waits before its freeze and is applied once the paths are back', async (t) => {
    assertEdgePartition(await runDrill(data, ['edge-consul-partition'], '14s'), t);
  });

  it('split-brain-migration passes under TLS: the source host cut mid-migration; rolled back or completed, no acknowledged order lost or written by two cells', async (t) => {
    assertSplitBrain(await runDrill(data, ['split-brain-migration'], '14s'), t);
  });
});
