/**
 * Certificate rotation under load, without restarts (issue 15, point 4):
 * docs/tls.md §SDS and rotation and docs/tls.md §Rotation without restarts. Envoy's upstream
 * certificate comes from the control plane's SDS over the ADS stream (itself over TLS); the
 * router (HTTPS edge, mutual TLS to the cell) and the HTTPS cell watch their files. `cellctl
 * certs rotate --all` rewrites every leaf while a bounded vegeta attack runs through the router
 * and through Envoy to the cell: no request fails, Envoy then holds its new certificate, and new
 * connections to the router's and the cell's ports are served the new leaves.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { TlsFiles } from '../shared/pki/names.js';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startConsul } from '../infra/harness/consul.js';
import { seedKv } from '../infra/harness/echo-cell.js';
import { freePort } from '../infra/ports.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { encodeTarget, readResults, startAttack, vegetaReport } from '../infra/vegeta/index.js';
import { startControlPlane, startTestEnvoy } from '../control-plane/xds/testing.js';
import { httpsGet, servedSerial, startTlsCell, tlsArgs } from './tls-rig.test-helper.js';
import { ensureCertificates, identityUri, tlsFiles, topologyLeaves } from '../shared/pki/store.js';
import { pemCertificates } from '../shared/pki/identity.js';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));
const READ_TOKEN = `rd-${randomBytes(16).toString('hex')}`;

/** How many instances of cell-0 the control plane's load measure scraped (its peer client, GET /admin/load). */
async function scrapedCell0(cpUrl: string): Promise<number> {
  const res = await fetch(`${cpUrl}/admin/load?windowMs=500`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
  const body = (await res.json()) as { cells?: { cell: string; scraped: number }[] };
  return body.cells?.find((c) => c.cell === 'cell-0')?.scraped ?? -1;
}

const norm = (serial: string) => serial.toLowerCase().replace(/^0+/, '');

/**
 * Envoy's counters of the cell's cluster that say why it had no healthy host: active health
 * check failures, outlier ejections, connect timeouts and failures, retries, route timeouts.
 */
async function envoyCellStats(adminUrl: string): Promise<string> {
  const filter = String.raw`^(cluster\.cell_cell-0\.(health_check\.(attempt|failure|network_failure|healthy)|outlier_detection\.ejections_(enforced_total|enforced_consecutive_gateway_failure|enforced_consecutive_5xx)|upstream_cx_(total|connect_timeout|connect_fail|destroy_remote|destroy_local|destroy_remote_with_active_rq|destroy_local_with_active_rq|pool_overflow|connect_attempts_exceeded)|upstream_rq_(retry|timeout|pending_overflow)|ssl\.(handshake|connection_error|fail_verify_.*))|cluster_manager\.(cluster_modified|cds\.update_success)|sds\..*update_success)$`;
  const text = await (await fetch(`${adminUrl}/stats?filter=${encodeURIComponent(filter)}`)).text();
  return text
    .trim()
    .split('\n')
    .map((l) => l.replace('cluster.cell_cell-0.', ''))
    .join(', ');
}

/**
 * Whether the TLS server at `port` (HTTP/2: it speaks first, its SETTINGS) takes `client`'s
 * certificate: under TLS 1.3 a client's handshake completes before the server has checked the
 * client certificate, whose refusal comes as an alert afterwards.
 */
function acceptsClient(port: number, ca: string, client: TlsFiles): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tlsConnect({
      port,
      host: '127.0.0.1',
      ca,
      servername: 'localhost',
      cert: readFileSync(client.cert),
      key: readFileSync(client.key),
      ALPNProtocols: ['h2'],
      timeout: 5000,
    });
    s.once('data', () => {
      resolve(true);
      s.destroy();
    });
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(false));
    s.on('timeout', () => s.destroy());
  });
}

/** The serial numbers of the CA certificates Envoy trusts (admin /certs, every context's `ca_cert`). */
async function envoyCaSerials(adminUrl: string): Promise<string[]> {
  const body = (await (await fetch(`${adminUrl}/certs`)).json()) as { certificates?: { ca_cert?: { serial_number?: string }[] }[] };
  return [...new Set((body.certificates ?? []).flatMap((c) => (c.ca_cert ?? []).map((x) => norm(x.serial_number ?? ''))))];
}

/** The serial numbers of the certificates Envoy holds (admin /certs). */
async function envoyCertSerials(adminUrl: string): Promise<string[]> {
  const body = (await (await fetch(`${adminUrl}/certs`)).json()) as { certificates?: { cert_chain?: { serial_number?: string }[] }[] };
  return (body.certificates ?? []).flatMap((c) => (c.cert_chain ?? []).map((x) => norm(x.serial_number ?? '')));
}

describe('certificate rotation under load (real Consul, HTTPS cell, router, control plane, Envoy, vegeta, cellctl certs rotate)', () => {
  const scope = new ProcessScope();
  const tmp = mkdtempSync(join(tmpdir(), 'cellsim-sds-'));
  const dir = join(tmp, 'tls');
  const leaves = [...topologyLeaves(['cell-0']), { name: 'envoy-xds', uri: identityUri('envoy') }];
  let envoyUrl = '';
  let adminUrl = '';
  let routerPort = 0;
  let cellPort = 0;
  let xdsPort = 0;
  let adminTlsPort = 0;
  let cpUrl = '';
  let ca = '';

  before(async () => {
    await ensureCertificates(dir, leaves);
    const consul = await startConsul();
    scope.adopt(consul.proc);
    await seedKv(consul.url, { cells: { 'cell-0': { global: true } }, markets: { 'm-a': { cell: 'cell-0' } } });
    ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    cellPort = (await startTlsCell(scope, { tmp, dir, consulUrl: consul.url })).port;
    routerPort = await freePort();
    await scope.start({
      name: 'router-rotation',
      command: process.execPath,
      // Two workers (node:cluster): each process watches the files on its own.
      args: [
        CELLCTL,
        'router',
        '--port',
        String(routerPort),
        '--consul',
        consul.url,
        '--workers',
        '2',
        ...tlsArgs(tlsFiles(dir, 'router')),
        '--edge-tls',
      ],
      ready: {
        check: async () =>
          (await httpsGet(`https://127.0.0.1:${routerPort}/v1/orders?market=m-a`, ca, undefined, { 'x-market-id': 'm-a' })).status === 200,
      },
      readyTimeoutMs: 30_000,
    });
    const cp = await startControlPlane(scope, {
      consulUrl: consul.url,
      id: 'cp-sds',
      testHooks: false,
      sdsDir: dir,
      tls: tlsFiles(dir, 'control-plane'),
      // --peer-tls: its scrapes of the cells (GET /admin/load) in HTTPS with its certificate, trusting ca.crt.
      env: { CELLSIM_PEER_TLS: 'true', CELLSIM_READ_TOKEN: READ_TOKEN },
    });
    cpUrl = cp.httpUrl;
    // Envoy's own files serve only its xDS connection (by file-based SDS, watched by Envoy); its
    // upstream certificate comes by SDS from the control plane. (A leaf of Envoy's identity apart
    // from the upstream one, `envoy-xds`, so /certs tells the two apart.)
    const envoyXds = tlsFiles(dir, 'envoy-xds');
    // Its admin's TLS listener (as under cellctl up --hosts --tls), on the same files by file-based SDS.
    adminTlsPort = await freePort();
    const envoy = await startTestEnvoy(scope, {
      xdsPort: cp.xdsPort,
      id: 'envoy-sds',
      extraArgs: ['--xds-tls', ...tlsArgs(envoyXds), '--admin-tls-listen', `127.0.0.1:${adminTlsPort}`],
    });
    envoyUrl = envoy.url;
    xdsPort = cp.xdsPort;
    adminUrl = envoy.adminUrl;
    await waitFor(
      async () =>
        (await fetch(`${envoyUrl}/v1/orders?market=m-a`, { headers: { 'x-market-id': 'm-a' } }).catch(() => undefined))?.status === 200,
      20_000,
      () => 'Envoy to reach the TLS cell with its SDS certificate',
    );
  });

  after(async () => {
    await scope.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('cellctl certs rotate --all under load: 0 failed requests on both planes; Envoy, the router and the cell then serve the new leaves', async (t) => {
    const serial = (name: string) => norm(new X509Certificate(readFileSync(tlsFiles(dir, name).cert)).serialNumber);
    const before = { envoy: serial('envoy'), router: serial('router'), cell: serial('cell-0'), cp: serial('control-plane') };
    assert.ok((await envoyCertSerials(adminUrl)).includes(before.envoy), 'Envoy holds the SDS certificate');
    assert.equal(await servedSerial(routerPort, ca), before.router, "the router's edge serves its leaf");
    assert.equal(await servedSerial(cellPort, ca), before.cell, 'the cell serves its leaf');
    const xdsClient = tlsFiles(dir, 'envoy-xds');
    const xdsClientSerial = () => norm(new X509Certificate(readFileSync(xdsClient.cert)).serialNumber);
    const beforeXdsClient = xdsClientSerial();
    assert.ok((await envoyCertSerials(adminUrl)).includes(beforeXdsClient), 'Envoy holds its xDS client certificate');
    assert.equal(await servedSerial(xdsPort, ca, xdsClient), before.cp, "the control plane's xDS port serves its leaf");
    const targets = join(tmp, 'targets.json');
    const target = (url: string) => encodeTarget({ method: 'GET', url: `${url}/v1/orders?market=m-a`, header: { 'x-market-id': ['m-a'] } });
    writeFileSync(targets, `${target(envoyUrl)}\n${target(`https://127.0.0.1:${routerPort}`)}\n`);
    const results = join(tmp, 'results.json');
    const attack = startAttack({
      targetsFile: targets,
      rate: 100,
      durationMs: 8000,
      timeoutMs: 5000,
      resultsFile: results,
      killAfterMs: 60_000,
      maxBody: 512,
      rootCerts: join(dir, 'ca.crt'),
    });
    await new Promise((r) => setTimeout(r, 2500));
    const rotatedAt = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, [CELLCTL, 'certs', 'rotate', '--data', tmp, '--all', '--json']);
    const rotated = (JSON.parse(stdout) as { rotated: { name: string; previousSerial: string; serial: string }[] }).rotated;
    assert.deepEqual(
      rotated.map((r) => r.name),
      ['cell-0', 'consul', 'control-plane', 'envoy', 'envoy-xds', 'router', 'supervisor'],
    );
    const afterXdsClient = xdsClientSerial();
    assert.notEqual(afterXdsClient, beforeXdsClient, "Envoy's xDS client has a new leaf");
    const after = { envoy: serial('envoy'), router: serial('router'), cell: serial('cell-0'), cp: serial('control-plane') };
    for (const k of ['envoy', 'router', 'cell', 'cp'] as const) assert.notEqual(after[k], before[k], `${k} has a new leaf`);
    assert.equal(norm(rotated.find((r) => r.name === 'router')!.serial), after.router, 'the JSON names the new serial');
    const outcome = await attack.done;
    const report = await vegetaReport(results);
    // Failures by plane, with the start relative to the rotation and the body's first words (Envoy names its reason).
    const failed: string[] = [];
    for await (const r of readResults(results))
      if (r.code !== 200)
        failed.push(
          `${r.url.includes(String(routerPort)) ? 'router' : 'envoy'} ${Math.round(r.start - rotatedAt)}ms ${r.code} ${r.error} ${r.body.toString('utf8').slice(0, 120)}`,
        );
    t.diagnostic(
      `vegeta: ${report.requests} requests, status codes ${JSON.stringify(report.statusCodes)}; failed: ${failed.slice(0, 5).join(' | ')}`,
    );
    t.diagnostic(`envoy cell cluster: ${await envoyCellStats(adminUrl)}`);
    assert.ok(outcome.results >= 700, `about 800 requests sent, got ${outcome.results}`);
    await waitFor(
      async () => (await envoyCertSerials(adminUrl)).includes(after.envoy),
      10_000,
      () => 'Envoy to hold the rotated certificate',
    );
    assert.ok(!(await envoyCertSerials(adminUrl)).includes(before.envoy), 'the old certificate is gone from Envoy');
    // Envoy took its rotated xDS client certificate from the watched files, without a restart.
    await waitFor(
      async () => {
        const held = await envoyCertSerials(adminUrl);
        return held.includes(afterXdsClient) && !held.includes(beforeXdsClient);
      },
      10_000,
      () => `Envoy to hold its rotated xDS client certificate ${afterXdsClient} in place of ${beforeXdsClient}`,
    );
    // New connections are served the new leaves (the files are polled every 500 ms; the attack ran 5 s past the rotation).
    // Ten new connections, which the kernel spreads over the router's two workers: each is served the new leaf.
    const served = await Promise.all(Array.from({ length: 10 }, () => servedSerial(routerPort, ca)));
    assert.deepEqual(new Set(served), new Set([after.router]), "the router's edge serves its new leaf on every connection");
    assert.equal(await servedSerial(cellPort, ca), after.cell, 'the cell serves its new leaf');
    assert.equal(await servedSerial(xdsPort, ca, xdsClient), after.cp, "the control plane's xDS port serves its new leaf");
    // And still answer through both planes on new connections (the cell checks the chain and the caller's role).
    const res = await fetch(`${envoyUrl}/v1/orders?market=m-a`, { headers: { 'x-market-id': 'm-a', connection: 'close' } });
    assert.equal(res.status, 200);
    const viaRouter = await httpsGet(`https://127.0.0.1:${routerPort}/v1/orders?market=m-a`, ca, undefined, { 'x-market-id': 'm-a' });
    assert.equal(viaRouter.status, 200, viaRouter.body);
    // Last, so that a failure above names what was not reloaded.
    assert.deepEqual(
      report.statusCodes,
      { '200': report.requests },
      `every request of the attack answered 200: ${JSON.stringify(report.statusCodes)}; ${failed.slice(0, 5).join(' | ')}`,
    );
  });
  it('cellctl certs rotate --ca under load: 0 failed requests; afterwards only the new CA is trusted and every port serves a leaf of it', async (t) => {
    const caFile = join(dir, 'ca.crt');
    const serial = (name: string) => norm(new X509Certificate(readFileSync(tlsFiles(dir, name).cert)).serialNumber);
    const oldCa = readFileSync(caFile, 'utf8');
    const oldCaSerial = norm(new X509Certificate(oldCa).serialNumber);
    // The old leaves of the router and of Envoy's xDS client, kept to knock with once the old CA is gone.
    const keep = (name: string): TlsFiles => {
      const f = tlsFiles(dir, name);
      const to = { ca: f.ca, cert: join(tmp, `old-${name}.crt`), key: join(tmp, `old-${name}.key`) };
      copyFileSync(f.cert, to.cert);
      copyFileSync(f.key, to.key);
      return to;
    };
    const oldRouter = keep('router');
    const oldXdsClient = keep('envoy-xds');
    const oldSupervisor = keep('supervisor');
    const adminReady = `https://127.0.0.1:${adminTlsPort}/ready`;
    assert.equal(
      (await httpsGet(adminReady, oldCa, tlsFiles(dir, 'supervisor'))).status,
      200,
      "Envoy's admin TLS listener answers the supervisor",
    );
    const before = { router: serial('router'), cell: serial('cell-0'), envoy: serial('envoy'), xds: serial('envoy-xds') };
    assert.deepEqual(await envoyCaSerials(adminUrl), [oldCaSerial], 'Envoy trusts the old CA');
    assert.equal(await scrapedCell0(cpUrl), 1, "the control plane's peer client scrapes the cell");

    // Load in 1 s attacks, one after the other: vegeta reads -root-certs once per attack, so each
    // attack trusts what ca.crt held at its start, as a client handed the bundle would.
    const targets = join(tmp, 'ca-targets.json');
    const target = (url: string) => encodeTarget({ method: 'GET', url: `${url}/v1/orders?market=m-a`, header: { 'x-market-id': ['m-a'] } });
    writeFileSync(targets, `${target(envoyUrl)}\n${target(`https://127.0.0.1:${routerPort}`)}\n`);
    let rotating = true;
    const files: string[] = [];
    const load = (async () => {
      for (let i = 0, extra = 2; rotating || extra-- > 0; i++) {
        const results = join(tmp, `ca-results-${i}.json`);
        files.push(results);
        await startAttack({
          targetsFile: targets,
          rate: 100,
          durationMs: 1000,
          timeoutMs: 5000,
          resultsFile: results,
          killAfterMs: 30_000,
          maxBody: 512,
          rootCerts: caFile,
        }).done;
      }
    })();
    await new Promise((r) => setTimeout(r, 2000));
    const rotatedAt = Date.now();
    const run = await promisify(execFile)(process.execPath, [
      CELLCTL,
      'certs',
      'rotate',
      '--ca',
      '--data',
      tmp,
      '--settle',
      '3s',
      '--json',
    ]);
    rotating = false;
    await load;
    t.diagnostic(`cellctl certs rotate --ca took ${Date.now() - rotatedAt} ms; stderr: ${run.stderr.trim()}`);
    const out = JSON.parse(run.stdout) as {
      ca: { previousSerial: string; serial: string };
      rotated: { name: string; previousSerial: string; serial: string }[];
    };
    const newCa = readFileSync(caFile, 'utf8');
    assert.equal(pemCertificates(newCa).length, 1, 'ca.crt holds one CA');
    const newCaSerial = norm(new X509Certificate(newCa).serialNumber);
    assert.equal(norm(out.ca.previousSerial), oldCaSerial);
    assert.equal(norm(out.ca.serial), newCaSerial);
    assert.deepEqual(out.rotated.map((r) => r.name).sort(), leaves.map((l) => l.name).sort());
    const after = {
      router: serial('router'),
      cell: serial('cell-0'),
      envoy: serial('envoy'),
      xds: serial('envoy-xds'),
      cp: serial('control-plane'),
    };
    assert.equal(norm(out.rotated.find((r) => r.name === 'router')!.previousSerial), before.router);
    assert.equal(norm(out.rotated.find((r) => r.name === 'router')!.serial), after.router);

    // Every answer of the load, by plane and time from the rotation's start.
    let requests = 0;
    const failed: string[] = [];
    for (const f of files)
      for await (const r of readResults(f)) {
        requests += 1;
        if (r.code !== 200)
          failed.push(
            `${r.url.includes(String(routerPort)) ? 'router' : 'envoy'} ${Math.round(r.start - rotatedAt)}ms ${r.code} ${r.error} ${r.body.toString('utf8').slice(0, 120)}`,
          );
      }
    t.diagnostic(`vegeta: ${requests} requests in ${files.length} attacks, ${failed.length} failed: ${failed.slice(0, 5).join(' | ')}`);
    t.diagnostic(`envoy cell cluster: ${await envoyCellStats(adminUrl)}`);

    // Envoy: the new leaves (upstream by SDS, xDS client by file), and the new CA alone in every context.
    let seen = { held: [] as string[], cas: [] as string[] };
    await waitFor(
      async () => {
        seen = { held: await envoyCertSerials(adminUrl), cas: await envoyCaSerials(adminUrl) };
        return seen.held.includes(after.envoy) && seen.held.includes(after.xds) && seen.cas.join() === newCaSerial;
      },
      10_000,
      () =>
        `Envoy to hold the new leaves ${after.envoy}, ${after.xds} and trust the new CA ${newCaSerial} alone (old ${oldCaSerial}); holds ${JSON.stringify(seen)}`,
    );
    // New connections, trusting the new CA alone: the router's edge (ten, over both workers), the cell, the xDS port.
    const served = await Promise.all(Array.from({ length: 10 }, () => servedSerial(routerPort, newCa)));
    assert.deepEqual(new Set(served), new Set([after.router]), "the router's edge serves its leaf of the new CA");
    assert.equal(await servedSerial(cellPort, newCa), after.cell, 'the cell serves its leaf of the new CA');
    assert.equal(
      await servedSerial(xdsPort, newCa, tlsFiles(dir, 'envoy-xds')),
      after.cp,
      "the control plane's xDS port serves its leaf of the new CA",
    );
    // The old CA is gone everywhere: a client certificate of it is refused by the xDS port and by the cell's /v1.
    assert.equal(await acceptsClient(xdsPort, newCa, oldXdsClient), false, 'the xDS port refuses a client certificate of the old CA');
    assert.equal(await acceptsClient(xdsPort, newCa, tlsFiles(dir, 'envoy-xds')), true, 'and takes one of the new CA');
    // Envoy's admin TLS listener (file-based SDS): its new leaf, the supervisor's new leaf taken, the old refused.
    assert.equal(await servedSerial(adminTlsPort, newCa), after.xds, "Envoy's admin TLS listener serves its leaf of the new CA");
    const ready = await httpsGet(adminReady, newCa, tlsFiles(dir, 'supervisor'));
    assert.deepEqual([ready.status, ready.body.trim()], [200, 'LIVE'], "Envoy's admin TLS listener takes the supervisor's new leaf");
    assert.equal((await httpsGet(adminReady, newCa, oldSupervisor)).status, 0, "and refuses the supervisor's old leaf");
    const direct = `https://127.0.0.1:${cellPort}/v1/orders?market=m-a`;
    const byOld = await httpsGet(direct, newCa, oldRouter, { 'x-market-id': 'm-a' });
    assert.equal(byOld.status, 403, `the cell refuses the old router leaf on /v1: ${byOld.status} ${byOld.body}`);
    assert.equal((await httpsGet(direct, newCa, tlsFiles(dir, 'router'), { 'x-market-id': 'm-a' })).status, 200);
    // The control plane's peer client (--peer-tls) still scrapes the cell, which now serves a leaf of the new CA.
    assert.equal(await scrapedCell0(cpUrl), 1, "the control plane's peer client scrapes the cell after the old CA is gone");
    // Both planes answer on new connections: the router (its pools were replaced with its new client
    // certificate, which the cell accepts only as a leaf of the new CA) and Envoy.
    const viaRouter = await httpsGet(`https://127.0.0.1:${routerPort}/v1/orders?market=m-a`, newCa, undefined, { 'x-market-id': 'm-a' });
    assert.equal(viaRouter.status, 200, viaRouter.body);
    const viaEnvoy = await fetch(`${envoyUrl}/v1/orders?market=m-a`, { headers: { 'x-market-id': 'm-a', connection: 'close' } });
    assert.equal(viaEnvoy.status, 200);
    assert.ok(requests >= 700, `about 100 requests a second for the rotation's 6 s and more, got ${requests}`);
    assert.deepEqual(failed, [], `every request of the load answered 200: ${failed.length} of ${requests} failed`);
  });
});
