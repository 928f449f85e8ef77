/**
 * HTTPS at the edge of both planes (issue 15, point 4; docs/tls.md §The edge), against real
 * processes: a router with `--edge-tls` and an Envoy whose control plane has `--edge-tls` answer
 * HTTPS with their certificates of the local CA, and no longer plain HTTP, while mutual TLS carries
 * each request on to an HTTPS cell.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startConsul } from '../infra/harness/consul.js';
import { seedKv } from '../infra/harness/echo-cell.js';
import { freePort } from '../infra/ports.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { startControlPlane, startTestEnvoy } from '../control-plane/xds/testing.js';
import { httpsGet, startTlsCell, tlsArgs } from './tls-rig.test-helper.js';
import { ensureCertificates, tlsFiles, topologyLeaves } from '../shared/pki/store.js';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));

/** An HTTPS GET trusting `ca`: the status, or 0 when no answer. */
const httpsStatus = async (url: string, ca: string, headers: Record<string, string> = {}) =>
  (await httpsGet(url, ca, undefined, headers)).status;

async function plainStatus(url: string): Promise<number> {
  try {
    const res = await fetch(url, { headers: { 'x-market-id': 'm-a' }, signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

describe('HTTPS at the edge of both planes (real Consul, HTTPS cell, router, control plane, Envoy)', () => {
  const scope = new ProcessScope();
  const tmp = mkdtempSync(join(tmpdir(), 'cellsim-edge-tls-'));
  const dir = join(tmp, 'tls');
  let ca = '';
  let routerPort = 0;
  let envoyPort = 0;

  before(async () => {
    await ensureCertificates(dir, topologyLeaves(['cell-0']));
    ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const consul = await startConsul();
    scope.adopt(consul.proc);
    await seedKv(consul.url, { cells: { 'cell-0': { global: true } }, markets: { 'm-a': { cell: 'cell-0' } } });
    await startTlsCell(scope, { tmp, dir, consulUrl: consul.url });
    routerPort = await freePort();
    await scope.start({
      name: 'router-edge-tls',
      command: process.execPath,
      args: [CELLCTL, 'router', '--port', String(routerPort), '--consul', consul.url, ...tlsArgs(tlsFiles(dir, 'router')), '--edge-tls'],
      ready: { check: async () => (await httpsStatus(`https://127.0.0.1:${routerPort}/healthz`, ca)) === 200 },
      readyTimeoutMs: 30_000,
    });
    const cp = await startControlPlane(scope, { consulUrl: consul.url, id: 'cp-edge', testHooks: false, sdsDir: dir, edgeTls: true });
    envoyPort = (await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'envoy-edge' })).listenPort;
  });

  after(async () => {
    await scope.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  for (const plane of ['router', 'envoy'] as const) {
    it(`the ${plane} answers HTTPS with a certificate of the CA, and not plain HTTP`, async () => {
      const port = plane === 'router' ? routerPort : envoyPort;
      const url = `https://127.0.0.1:${port}/v1/orders?market=m-a`;
      await waitFor(
        async () => (await httpsStatus(url, ca, { 'x-market-id': 'm-a' })) === 200,
        30_000,
        () => `${plane}: 200 over HTTPS`,
      );
      assert.equal(await plainStatus(`http://127.0.0.1:${port}/v1/orders?market=m-a`), 0, 'plain HTTP gets no answer');
      assert.equal(
        await httpsStatus(url, readFileSync(join(dir, 'router.crt'), 'utf8'), { 'x-market-id': 'm-a' }),
        0,
        'a client that does not trust the CA refuses it',
      );
    });
  }
});
