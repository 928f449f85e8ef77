/**
 * HTTPS at the edge of both planes (issue 15, point 4; docs/tls.md §The edge), against real
 * processes: a router with `--edge-tls` and an Envoy whose control plane has `--edge-tls` answer
 * HTTPS with their certificates of the local CA, and no longer plain HTTP, while mutual TLS carries
 * each request on to an HTTPS cell.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startConsul } from '../infra/harness/consul.js';
import { seedKv } from '../infra/harness/echo-cell.js';
import { freePort, freePorts } from '../infra/ports.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { startControlPlane } from '../control-plane/xds/testing.js';
import { ensureCertificates, tlsFiles, topologyLeaves, type TlsFiles } from '../shared/pki/store.js';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));
const tlsArgs = (f: TlsFiles) => ['--tls-cert', f.cert, '--tls-key', f.key, '--tls-ca', f.ca];

/** An HTTPS GET trusting `ca`: the status, or 0 when no answer. */
function httpsStatus(url: string, ca: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { ca, headers, timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

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
    const port = await freePort();
    await scope.start({
      name: 'cell-0-tls',
      command: process.execPath,
      args: [
        CELLCTL,
        'cell',
        '--id',
        'cell-0',
        '--port',
        String(port),
        '--data',
        join(tmp, 'cell-0'),
        '--consul',
        consul.url,
        ...tlsArgs(tlsFiles(dir, 'cell-0')),
      ],
      env: { CELLSIM_CELL_ADMIN_TOKEN: 'test-admin-token-0123456789' },
      ready: { check: async () => (await httpsStatus(`https://127.0.0.1:${port}/readyz`, ca)) === 200 },
      readyTimeoutMs: 30_000,
    });
    routerPort = await freePort();
    await scope.start({
      name: 'router-edge-tls',
      command: process.execPath,
      args: [CELLCTL, 'router', '--port', String(routerPort), '--consul', consul.url, ...tlsArgs(tlsFiles(dir, 'router')), '--edge-tls'],
      ready: { check: async () => (await httpsStatus(`https://127.0.0.1:${routerPort}/healthz`, ca)) === 200 },
      readyTimeoutMs: 30_000,
    });
    const cp = await startControlPlane(scope, { consulUrl: consul.url, id: 'cp-edge', testHooks: false, sdsDir: dir, edgeTls: true });
    const [listen, admin] = (await freePorts(2)) as [number, number];
    envoyPort = listen;
    await scope.start({
      name: 'envoy-edge-tls',
      command: process.execPath,
      args: [
        CELLCTL,
        'envoy',
        '--listen',
        String(listen),
        '--admin',
        String(admin),
        '--xds',
        `127.0.0.1:${cp.xdsPort}`,
        '--id',
        'envoy-edge',
      ],
      ready: { http: `http://127.0.0.1:${admin}/ready`, status: 200 },
      readyTimeoutMs: 30_000,
    });
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
