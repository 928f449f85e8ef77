/**
 * Certificate rotation by SDS under load (issue 15, point 4; docs/tls.md §SDS and rotation):
 * Envoy's upstream certificate comes from the control plane's SDS over the ADS stream (itself
 * over TLS); rewriting the certificate files makes the control plane push a new secret, and a
 * bounded vegeta attack through Envoy to a real HTTPS cell sees no failed request across it.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { seedKv } from '../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { encodeTarget, startAttack, vegetaReport } from '../infra/vegeta/index.js';
import { startControlPlane, startTestEnvoy } from '../control-plane/xds/testing.js';
import { startTlsCell, tlsArgs } from './tls-rig.test-helper.js';
import { ensureCertificates, rotateCertificates, tlsFiles, topologyLeaves } from '../shared/pki/store.js';

const norm = (serial: string) => serial.toLowerCase().replace(/^0+/, '');

/** The serial numbers of the certificates Envoy holds (admin /certs). */
async function envoyCertSerials(adminUrl: string): Promise<string[]> {
  const body = (await (await fetch(`${adminUrl}/certs`)).json()) as { certificates?: { cert_chain?: { serial_number?: string }[] }[] };
  return (body.certificates ?? []).flatMap((c) => (c.cert_chain ?? []).map((x) => norm(x.serial_number ?? '')));
}

describe('certificate rotation by SDS under load (real Consul, HTTPS cell, control plane, Envoy, vegeta)', () => {
  const scope = new ProcessScope();
  const tmp = mkdtempSync(join(tmpdir(), 'cellsim-sds-'));
  const dir = join(tmp, 'tls');
  const leaves = topologyLeaves(['cell-0']);
  let envoyUrl = '';
  let adminUrl = '';

  before(async () => {
    await ensureCertificates(dir, leaves);
    const consul = await startConsul();
    scope.adopt(consul.proc);
    await seedKv(consul.url, { cells: { 'cell-0': { global: true } }, markets: { 'm-a': { cell: 'cell-0' } } });
    await startTlsCell(scope, { tmp, dir, consulUrl: consul.url });
    const cp = await startControlPlane(scope, {
      consulUrl: consul.url,
      id: 'cp-sds',
      testHooks: false,
      sdsDir: dir,
      tls: tlsFiles(dir, 'control-plane'),
    });
    // Envoy's own files serve only its xDS connection; its upstream certificate comes by SDS.
    // (A leaf of the same CA apart from the SDS one, so /certs tells the two apart.)
    const own = join(tmp, 'envoy-xds');
    mkdirSync(own, { mode: 0o700 });
    for (const f of ['ca.crt', 'ca.key']) copyFileSync(join(dir, f), join(own, f));
    await ensureCertificates(
      own,
      leaves.filter((l) => l.name === 'envoy'),
    );
    const envoyXds = tlsFiles(own, 'envoy');
    const envoy = await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'envoy-sds', extraArgs: ['--xds-tls', ...tlsArgs(envoyXds)] });
    envoyUrl = envoy.url;
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

  it('rewriting the certificate files pushes a new secret: 0 failed requests under load, and Envoy then holds the new certificate', async () => {
    const serial = (f: string) => norm(new X509Certificate(readFileSync(f)).serialNumber);
    const before = serial(tlsFiles(dir, 'envoy').cert);
    assert.ok((await envoyCertSerials(adminUrl)).includes(before), 'Envoy holds the SDS certificate');
    const targets = join(tmp, 'targets.json');
    writeFileSync(
      targets,
      `${encodeTarget({ method: 'GET', url: `${envoyUrl}/v1/orders?market=m-a`, header: { 'x-market-id': ['m-a'] } })}\n`,
    );
    const results = join(tmp, 'results.json');
    const attack = startAttack({
      targetsFile: targets,
      rate: 100,
      durationMs: 8000,
      timeoutMs: 5000,
      resultsFile: results,
      killAfterMs: 60_000,
    });
    await new Promise((r) => setTimeout(r, 2500));
    await rotateCertificates(dir, leaves, ['envoy']);
    const after = serial(tlsFiles(dir, 'envoy').cert);
    assert.notEqual(after, before);
    const outcome = await attack.done;
    const report = await vegetaReport(results);
    assert.ok(outcome.results >= 700, `about 800 requests sent, got ${outcome.results}`);
    assert.deepEqual(
      report.statusCodes,
      { '200': report.requests },
      `every request answered 200: ${JSON.stringify(report.statusCodes)} ${report.errors.join('; ')}`,
    );
    await waitFor(
      async () => (await envoyCertSerials(adminUrl)).includes(after),
      10_000,
      () => 'Envoy to hold the rotated certificate',
    );
    assert.ok(!(await envoyCertSerials(adminUrl)).includes(before), 'the old certificate is gone from Envoy');
    // New connections present the new certificate: the cell still answers (it checks the chain and the role).
    const res = await fetch(`${envoyUrl}/v1/orders?market=m-a`, { headers: { 'x-market-id': 'm-a', connection: 'close' } });
    assert.equal(res.status, 200);
  });
});
