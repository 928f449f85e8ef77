/**
 * The system under test of the side-by-side benchmark: one real cell, one Node router (one
 * worker), the xDS control plane and one Envoy, all on free ports, with Consul holding one
 * market owned by the cell. Every process is started through the harness, so none outlives
 * the benchmark.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { freePorts } from '../../infra/ports.js';
import { ProcessScope, waitFor, type ManagedProcess } from '../../infra/process.js';

const CELLCTL = fileURLToPath(new URL('../../bin/cellctl.js', import.meta.url));

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

/** Starts the stack: every process ready, the order created and routed by both planes. */
export async function startBenchStack(): Promise<BenchStack> {
  const scope = new ProcessScope();
  const data = mkdtempSync(join(tmpdir(), 'cellsim-bench-'));
  const token = 'bench-cell-admin-token'; // the cells' admin token, through the environment (never argv)
  const market = 'bench-market';
  try {
    const consul = await startConsul({ name: 'bench-consul' });
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
      name: 'bench-cell',
      command: node,
      args: [CELLCTL, 'cell', '--id', 'cell-1', '--port', String(cellPort), '--data', join(data, 'cell-1'), '--consul', consul.url],
      env: { ...env, CELLSIM_CELL_ADMIN_TOKEN: token },
      ready: { http: `http://127.0.0.1:${cellPort}/readyz` },
    });
    const router = await scope.start({
      name: 'bench-router',
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
      ],
      env,
      ready: { http: `http://127.0.0.1:${routerPort}/readyz` },
    });
    const controlPlane = await scope.start({
      name: 'bench-control-plane',
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
      ],
      env: { ...env, CELLSIM_CELL_ADMIN_TOKEN: token },
      ready: { http: `http://127.0.0.1:${cpPort}/readyz` },
    });
    const envoy = await scope.start({
      name: 'bench-envoy',
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
      ],
      env,
      ready: { http: `http://127.0.0.1:${envoyAdmin}/ready` },
    });
    const cellUrl = `http://127.0.0.1:${cellPort}`;
    const created = await fetch(`${cellUrl}/v1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-market-id': market, 'idempotency-key': 'bench-order' },
      body: JSON.stringify({ customerId: 'bench', items: [{ sku: 'sku-1', qty: 1, priceCents: 100 }], address: '1 Bench Street' }),
    });
    const order = (await created.json()) as { id?: string };
    if (!order.id) throw new Error(`bench: could not create the order (${created.status})`);
    const path = `/v1/orders/${order.id}`;
    const urls = { router: `http://127.0.0.1:${routerPort}`, envoy: `http://127.0.0.1:${envoyPort}` };
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
      close: () => scope.close(),
    };
  } catch (err) {
    process.stderr.write(`${scope.report()}\n`);
    await scope.close();
    throw err;
  }
}
