/**
 * The system under test of the side-by-side benchmark: one real cell, one Node router (one
 * worker), the xDS control plane and one Envoy, all on free ports, with Consul holding one
 * market owned by the cell. Every process is started through the harness, so none outlives
 * the benchmark.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { freePorts } from '../../infra/ports.js';
import { ProcessScope, waitFor, type ManagedProcess } from '../../infra/process.js';
import { ensureCertificates, tlsFiles, topologyLeaves, type TlsFiles } from '../../shared/pki/store.js';

const CELLCTL = fileURLToPath(new URL('../../bin/cellctl.js', import.meta.url));

const tlsArgs = (f: TlsFiles) => ['--tls-cert', f.cert, '--tls-key', f.key, '--tls-ca', f.ca];

/** Whether an HTTPS GET trusting `ca` answers 200. */
function httpsOk(url: string, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The running stack. */
export interface BenchStack {
  consul: ConsulAgent;
  market: string;
  cell: { url: string; proc: ManagedProcess };
  router: { url: string; proc: ManagedProcess };
  envoy: { url: string; proc: ManagedProcess };
  controlPlane: { proc: ManagedProcess };
  /** A path every plane answers with 200 from the same cell (a read of one order). */
  path: string;
  close(): Promise<void>;
}

/**
 * Starts the stack: every process ready, the order created and routed by both planes. With
 * `tls`, every hop the stack has is TLS as in docs/tls.md: the cell serves HTTPS and takes only
 * the router's and Envoy's certificates on /v1, Envoy's upstream certificate comes by SDS, xDS is
 * over TLS (the order is then created through the router; `direct` cannot be measured).
 */
export async function startBenchStack(o: { tls?: boolean; name?: string } = {}): Promise<BenchStack> {
  const scope = new ProcessScope();
  const data = mkdtempSync(join(tmpdir(), 'cellsim-bench-'));
  const tlsDir = join(data, 'tls');
  if (o.tls) await ensureCertificates(tlsDir, topologyLeaves(['cell-1']));
  const tls = (name: string) => (o.tls ? tlsArgs(tlsFiles(tlsDir, name)) : []);
  const prefix = o.name ?? 'bench';
  const token = 'bench-cell-admin-token'; // the cells' admin token, through the environment (never argv)
  const market = 'bench-market';
  try {
    const consul = await startConsul({ name: `${prefix}-consul` });
    scope.adopt(consul.proc);
    await seedKv(consul.url, { cells: { 'cell-1': { global: true } }, markets: { [market]: { cell: 'cell-1' } } });
    const [cellPort, routerPort, cpPort, xdsPort, envoyPort, envoyAdmin] = (await freePorts(6)) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const env = { CELLSIM_LOG_LEVEL: 'warn' };
    const node = process.execPath;
    const cell = await scope.start({
      name: `${prefix}-cell`,
      command: node,
      args: [
        CELLCTL,
        'cell',
        '--id',
        'cell-1',
        '--port',
        String(cellPort),
        '--data',
        join(data, 'cell-1'),
        '--consul',
        consul.url,
        ...tls('cell-1'),
      ],
      env: { ...env, CELLSIM_CELL_ADMIN_TOKEN: token },
      ready: o.tls
        ? { check: () => httpsOk(`https://127.0.0.1:${cellPort}/readyz`, readFileSync(join(tlsDir, 'ca.crt'), 'utf8')) }
        : { http: `http://127.0.0.1:${cellPort}/readyz` },
    });
    const router = await scope.start({
      name: `${prefix}-router`,
      command: node,
      args: [
        CELLCTL,
        'router',
        '--port',
        String(routerPort),
        '--consul',
        consul.url,
        '--workers',
        '1',
        '--snapshot',
        join(data, 'router.snapshot.json'),
        ...tls('router'),
      ],
      env,
      ready: { http: `http://127.0.0.1:${routerPort}/readyz` },
    });
    const controlPlane = await scope.start({
      name: `${prefix}-control-plane`,
      command: node,
      args: [
        CELLCTL,
        'control-plane',
        '--port',
        String(cpPort),
        '--xds-port',
        String(xdsPort),
        '--consul',
        consul.url,
        '--data',
        join(data, 'cp'),
        ...(o.tls ? ['--sds-dir', tlsDir, ...tls('control-plane')] : []),
      ],
      env: { ...env, CELLSIM_CELL_ADMIN_TOKEN: token },
      ready: { http: `http://127.0.0.1:${cpPort}/readyz` },
    });
    const envoy = await scope.start({
      name: `${prefix}-envoy`,
      command: node,
      args: [
        CELLCTL,
        'envoy',
        '--listen',
        String(envoyPort),
        '--admin',
        String(envoyAdmin),
        '--xds',
        `127.0.0.1:${xdsPort}`,
        '--id',
        'envoy-0',
        '--data',
        join(data, 'envoy'),
        ...(o.tls ? ['--xds-tls', ...tls('envoy')] : []),
      ],
      env,
      ready: { http: `http://127.0.0.1:${envoyAdmin}/ready` },
    });
    const cellUrl = `${o.tls ? 'https' : 'http'}://127.0.0.1:${cellPort}`;
    const urls = { router: `http://127.0.0.1:${routerPort}`, envoy: `http://127.0.0.1:${envoyPort}` };
    // With TLS only a data plane reaches the cell's /v1: the order is made through the router.
    const createAt = o.tls ? urls.router : cellUrl;
    let order: { id?: string } = {};
    let status = 0;
    await waitFor(
      async () => {
        const created = await fetch(`${createAt}/v1/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-market-id': market, 'idempotency-key': 'bench-order' },
          body: JSON.stringify({ customerId: 'bench', items: [{ sku: 'sku-1', qty: 1, priceCents: 100 }], address: '1 Bench Street' }),
        });
        status = created.status;
        order = (await created.json()) as { id?: string };
        return order.id !== undefined;
      },
      30_000,
      () => `bench: the order to be created (last status ${status})`,
      200,
    );
    const path = `/v1/orders/${order.id}`;
    // Both planes must route the market before measuring.
    for (const [plane, url] of Object.entries(urls)) {
      let last = 'no answer';
      await waitFor(
        async () => {
          const res = await fetch(`${url}${path}`, { headers: { 'x-market-id': market } });
          last = `${res.status} ${(await res.text()).slice(0, 200)}`;
          return res.status === 200;
        },
        30_000,
        () => `the ${plane} (${url}) to route ${market}; last answer: ${last}`,
        200,
      );
    }
    return {
      consul,
      market,
      path,
      cell: { url: cellUrl, proc: cell },
      router: { url: urls.router, proc: router },
      envoy: { url: urls.envoy, proc: envoy },
      controlPlane: { proc: controlPlane },
      close: async () => {
        await scope.close();
        rmSync(data, { recursive: true, force: true });
      },
    };
  } catch (err) {
    process.stderr.write(`${scope.report()}\n`);
    await scope.close();
    rmSync(data, { recursive: true, force: true });
    throw err;
  }
}
