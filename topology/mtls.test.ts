/**
 * Mutual TLS between the data planes and the cells (issue 15, point 4; docs/security.md §TLS),
 * against real processes: Consul, a real cell serving HTTPS, routers and Envoys with and without
 * a valid client certificate. Only a router or an Envoy presenting a certificate of the cellsim CA
 * reaches a cell's /v1; any other caller gets no answer from the cell's handlers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../infra/harness/consul.js';
import { seedKv } from '../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { startRouterProcess } from '../router/testing.js';
import { startControlPlane, startTestEnvoy } from '../control-plane/xds/testing.js';
import { httpsGet, startTlsCell, tlsArgs } from './tls-rig.test-helper.js';
import { ConsulClient } from '../shared/consul/client.js';
import { ensureCertificates, tlsFiles, topologyLeaves, type TlsFiles } from '../shared/pki/store.js';

/** An HTTPS GET trusting `ca`, with an optional client certificate. */
async function get(url: string, market = 'm-a'): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { headers: { 'x-market-id': market }, signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: (err as Error).message };
  }
}

const code = (body: string) => (JSON.parse(body) as { error?: { code?: string } }).error?.code;

describe('mutual TLS between the data planes and the cells (real Consul, cell, routers, control plane, Envoys)', () => {
  const scope = new ProcessScope();
  const tmp = mkdtempSync(join(tmpdir(), 'cellsim-mtls-'));
  const dir = join(tmp, 'tls');
  let consul: ConsulAgent;
  let cellUrl = '';
  let ca = '';
  let strangerCert: TlsFiles;
  let cpXdsPort = 0;

  /** Waits until Consul passes `n` instances of cellsim-cell (its HTTPS check of each answered). */
  const passingCells = (n: number) =>
    waitFor(
      async () => (await new ConsulClient({ url: consul.url }).health.service('cellsim-cell', { passing: true })).value.length === n,
      15_000,
      () => `${n} cell instances passing in Consul`,
    );

  before(async () => {
    await ensureCertificates(dir, topologyLeaves(['cell-0']));
    ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    // A router certificate of another CA, presented with our CA as trust.
    const other = join(tmp, 'other-tls');
    await ensureCertificates(other, topologyLeaves([]));
    strangerCert = { ...tlsFiles(other, 'router'), ca: join(dir, 'ca.crt') };

    consul = await startConsul();
    scope.adopt(consul.proc);
    await seedKv(consul.url, {
      cells: { 'cell-0': { global: true }, 'cell-1': {} },
      markets: { 'm-a': { cell: 'cell-0' }, 'm-b': { cell: 'cell-1' } },
    });
    cellUrl = (await startTlsCell(scope, { tmp, dir, consulUrl: consul.url })).url;
    // Consul's HTTPS check of the cell passes: the cell is in the passing set.
    await passingCells(1);
    const cp = await startControlPlane(scope, {
      consulUrl: consul.url,
      id: 'cp-mtls',
      testHooks: false,
      upstreamTls: true,
      tls: tlsFiles(dir, 'control-plane'),
    });
    cpXdsPort = cp.xdsPort;
  });

  const startEnvoy = async (id: string, extra: string[], configured = true) =>
    (await startTestEnvoy(scope, { xdsPort: cpXdsPort, id, extraArgs: extra, waitUntil: configured ? 'configured' : 'running' })).url;

  after(async () => {
    await scope.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('the cell serves HTTPS; /v1 without a client certificate gets 403 forbidden, health answers', async () => {
    assert.equal((await httpsGet(`${cellUrl}/healthz`, ca)).status, 200);
    const bare = await httpsGet(`${cellUrl}/v1/orders?market=m-a`, ca, undefined, { 'x-market-id': 'm-a' });
    assert.equal(bare.status, 403);
    assert.equal(code(bare.body), 'forbidden');
    const cp = await httpsGet(`${cellUrl}/v1/orders?market=m-a`, ca, tlsFiles(dir, 'control-plane'), { 'x-market-id': 'm-a' });
    assert.equal(cp.status, 403, 'a valid certificate of another role is refused');
    const router = await httpsGet(`${cellUrl}/v1/orders?market=m-a`, ca, tlsFiles(dir, 'router'), { 'x-market-id': 'm-a' });
    assert.equal(router.status, 200, router.body);
  });

  it('a router with its certificate reaches the cell; without one, with another role, or of another CA it cannot', async () => {
    const start = (name: string, extra: string[]) =>
      startRouterProcess(scope, { consulUrl: consul.url, name, extraArgs: extra, waitReady: true });
    const good = await start('router-good', tlsArgs(tlsFiles(dir, 'router')));
    await waitFor(
      async () => (await get(`${good.url}/v1/orders?market=m-a`)).status === 200,
      15_000,
      () => 'the router to reach the TLS cell',
    );
    const plain = await start('router-plain', []);
    const wrongRole = await start('router-cp-cert', tlsArgs(tlsFiles(dir, 'control-plane')));
    const stranger = await start('router-other-ca', tlsArgs(strangerCert));
    for (const [what, r] of [
      ['no certificate (plain HTTP)', plain],
      ['a control-plane certificate', wrongRole],
      ['a certificate of another CA', stranger],
    ] as const) {
      const a = await get(`${r.url}/v1/orders?market=m-a`);
      assert.notEqual(a.status, 200, `${what}: ${a.status} ${a.body}`);
      assert.ok(a.status >= 400, `${what}: ${a.status} ${a.body}`);
      if (what !== 'no certificate (plain HTTP)') assert.equal(code(a.body), 'forbidden', `${what}: the cell refused it`);
    }
  });

  it('an Envoy with its certificate reaches the cell; one with a certificate of another role cannot', async () => {
    const good = await startEnvoy('envoy-good', [...tlsArgs(tlsFiles(dir, 'envoy')), '--xds-tls']);
    await waitFor(
      async () => (await get(`${good}/v1/orders?market=m-a`)).status === 200,
      20_000,
      () => 'Envoy to reach the TLS cell',
    );
    // Its xDS is over TLS with the Envoy's certificate: only the cell's check refuses it. (An
    // Envoy with a certificate of another CA gets no configuration at all: the last test.)
    const wrongRole = await startEnvoy('envoy-cp-cert', [...tlsArgs(tlsFiles(dir, 'control-plane')), '--xds-tls']);
    // Give each a moment to have its clusters (a few tries), then it must still be refused.
    for (const [what, url, expected] of [['a control-plane certificate', wrongRole, 'forbidden']] as const) {
      await waitFor(
        async () => (await get(`${url}/v1/orders?market=m-a`)).status === 403,
        20_000,
        () => `${what}: the cell's 403`,
      );
      const a = await get(`${url}/v1/orders?market=m-a`);
      assert.equal(code(a.body), expected, `${what}: ${a.status} ${a.body}`);
    }
  });

  it('serves xDS over TLS only: an Envoy without a certificate of the CA gets no configuration', async () => {
    const plainXds = await startEnvoy('envoy-plain-xds', [], false);
    const otherCa = await startEnvoy('envoy-other-ca-xds', [...tlsArgs(strangerCert), '--xds-tls'], false);
    // A configured Envoy answers on its listener within a second or two (the good one above did).
    await new Promise((r) => setTimeout(r, 5000));
    for (const url of [plainXds, otherCa]) {
      const a = await get(`${url}/v1/orders?market=m-a`);
      assert.equal(a.status, 0, `${url}: no listener without xDS, got ${a.status} ${a.body}`);
    }
  });

  it("an instance registered under another cell's ID (cell-0's certificate, as cell-1) gets none of that cell's traffic from either plane", async () => {
    // What a cell's own Consul token allows: Consul's ACLs go by service name, and every cell is
    // cellsim-cell. The impostor holds cell-0's certificate only; both planes want cell-1's.
    await startTlsCell(scope, { tmp, dir, consulUrl: consul.url, id: 'cell-1', cert: 'cell-0' });
    await passingCells(2);
    const router = await startRouterProcess(scope, {
      consulUrl: consul.url,
      name: 'router-impostor',
      extraArgs: tlsArgs(tlsFiles(dir, 'router')),
      waitReady: true,
    });
    const envoy = await startEnvoy('envoy-impostor', [...tlsArgs(tlsFiles(dir, 'envoy')), '--xds-tls']);
    for (const [plane, url] of [
      ['router', router.url],
      ['Envoy', envoy],
    ] as const) {
      await waitFor(
        async () => (await get(`${url}/v1/orders?market=m-a`)).status === 200,
        20_000,
        () => `the ${plane} to reach cell-0`,
      );
      for (let i = 0; i < 5; i++) {
        const b = await get(`${url}/v1/orders?market=m-b`, 'm-b');
        assert.ok(b.status >= 500, `${plane}, m-b of cell-1 served by the impostor: ${b.status} ${b.body}`);
      }
    }
  });
});
