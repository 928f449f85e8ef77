/**
 * The system under test of `npm run bench:propagation` (./propagation.ts): real Consul, one bare
 * upstream process answering for two cells (control-plane/xds/bench/upstream.ts, `x-cell-id` on
 * every answer), one router (one worker, a snapshot file, the V8 options it is deployed with), the
 * xDS control plane and one Envoy, all on free ports and owned by the caller's process scope. Also
 * the bench's market table (IDs of one width, so a move reads the same bytes at every size) and
 * the readers of both planes' follower counters.
 */
import type { FollowerInfo } from '../../shared/markets/follower.js';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startConsul } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { freePorts } from '../../infra/ports.js';
import { waitFor, type ProcessScope } from '../../infra/process.js';
import { findDescendant } from '../../control-plane/xds/bench/measure.js';
import { startControlPlane, startTestEnvoy, type TestControlPlane } from '../../control-plane/xds/testing.js';
import { childOf } from '../../router/bench/measure.js';
import { ROUTER_NODE_OPTIONS } from '../../router/node-options.js';
import { ConsulClient, txnSet, type TxnKvOp } from '../../shared/consul/client.js';
import { undiciTransport } from '../../shared/consul/undici.js';
import { KvLayout } from '../../shared/kv.js';
import { MarketWriter } from '../../shared/markets/writer.js';

const CELLCTL = fileURLToPath(new URL('../../bin/cellctl.js', import.meta.url));
const UPSTREAM = fileURLToPath(new URL('../../control-plane/xds/bench/upstream.ts', import.meta.url));

export type Cell = 'cell-a' | 'cell-b';
export type PlaneName = 'router' | 'envoy';
export const PLANES: readonly PlaneName[] = ['router', 'envoy'];

/** Market `i` of the bench's table: `m-000000` … `m-099999`, one width at every size. */
export const marketId = (i: number) => `m-${String(i).padStart(6, '0')}`;
/** The cell market `i` is seeded on. */
export const seededCell = (i: number): Cell => (i % 2 === 0 ? 'cell-a' : 'cell-b');
/** Epoch of the seeded records: three digits, so a move's record keeps its length. */
export const SEED_EPOCH = 100;

/** The follower's counters as both planes report them (JSON of shared/markets/follower.ts's FollowerInfo). */
export type FollowerCounters = FollowerInfo;

/** What the bench reads of the router's /readyz. */
export interface RouterTable {
  markets: number;
  marketFollower: FollowerCounters | undefined;
  lastMarketsChange: { workerHeapMb: [number, number] } | undefined;
}

/** The running rig. */
export interface Rig {
  consulUrl: string;
  consulPid: number | undefined;
  routerUrl: string;
  routerPid: number;
  cp: TestControlPlane;
  envoyUrl: string;
  writer: MarketWriter;
  /** The URL each plane is polled through. */
  url: Record<PlaneName, string>;
}

/** A Consul client on undici. */
export const benchConsul = (url: string) => new ConsulClient({ url, transport: undiciTransport() });

/** Writes markets `from` … `to - 1` without the change log: transactions of 64 `set`s, 8 in flight. */
export async function seedMarkets(consulUrl: string, from: number, to: number): Promise<void> {
  const batches: TxnKvOp[][] = [];
  for (let i = from; i < to; i += 64) {
    const ops: TxnKvOp[] = [];
    for (let j = i; j < Math.min(to, i + 64); j++) {
      ops.push(txnSet(`cellsim/markets/${marketId(j)}`, JSON.stringify({ cell: seededCell(j), state: 'active', epoch: SEED_EPOCH })));
    }
    batches.push(ops);
  }
  const kv = benchConsul(consulUrl).kv;
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches.length) {
        const r = await kv.txn(batches[next++]!);
        if (!r.ok) throw new Error(`seed txn rolled back: ${r.errors.map((e) => e.what).join('; ')}`);
      }
    }),
  );
}

/** The cell a plane routes `market` to (its answer's `x-cell-id`), or undefined when it did not answer 200. */
export async function routedCell(url: string, market: string): Promise<string | undefined> {
  const res = await request(`${url}/v1/orders`, { headers: { 'x-market-id': market } });
  await res.body.dump();
  const h = res.headers['x-cell-id'];
  return res.statusCode === 200 && typeof h === 'string' ? h : undefined;
}

export async function routerTable(url: string): Promise<RouterTable> {
  return ((await (await fetch(`${url}/readyz`)).json()) as { table: RouterTable }).table;
}

export async function xdsFollower(cp: TestControlPlane): Promise<FollowerCounters | undefined> {
  const s = (await (await fetch(`${cp.httpUrl}/xds/status`)).json()) as { consul?: { marketFollower?: FollowerCounters } };
  return s.consul?.marketFollower;
}

export async function cpMetrics(cp: TestControlPlane): Promise<string> {
  return (await fetch(`${cp.httpUrl}/metrics`)).text();
}

/** Both planes' follower counters now (the router's as of its table worker's last follower step). */
export async function followers(rig: Rig): Promise<Record<PlaneName, FollowerCounters | undefined>> {
  const [router, envoy] = await Promise.all([routerTable(rig.routerUrl), xdsFollower(rig.cp)]);
  return { router: router.marketFollower, envoy };
}

/** Starts every process with `first` markets seeded; resolves once both planes route the last of them. */
export async function startRig(scope: ProcessScope, workDir: string, first: number): Promise<Rig> {
  const consul = await startConsul({ name: 'propagation-consul' });
  scope.adopt(consul.proc);
  const [pa, pb, routerPort] = (await freePorts(3)) as [number, number, number];
  await scope.start({
    name: 'propagation-upstream',
    command: process.execPath,
    args: ['--import', 'tsx', UPSTREAM, consul.url, `cell-a=${pa}`, `cell-b=${pb}`],
    ready: { logLine: /upstream ready/ },
  });
  await seedKv(consul.url, { cells: { 'cell-a': {}, 'cell-b': {} } });
  await seedMarkets(consul.url, 0, first);
  const routerUrl = `http://127.0.0.1:${routerPort}`;
  const router = await scope.start({
    name: 'propagation-router',
    command: process.execPath,
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
      join(mkdtempSync(join(workDir, 'router-')), 'table.json'),
    ],
    env: { CELLSIM_LOG_LEVEL: 'warn', NODE_OPTIONS: ROUTER_NODE_OPTIONS },
    ready: { http: `${routerUrl}/readyz`, status: 200 },
    readyTimeoutMs: 120_000,
  });
  const cp = await startControlPlane(scope, { consulUrl: consul.url, id: 'cp-propagation', holdMs: 0, testHooks: false, logLevel: 'warn' });
  const envoy = await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'propagation-edge', readyTimeoutMs: 120_000 });
  const client = benchConsul(consul.url);
  const rig: Rig = {
    consulUrl: consul.url,
    consulPid: findDescendant(consul.proc.pid, 'consul'),
    routerUrl,
    routerPid: childOf(router.pid),
    cp,
    envoyUrl: envoy.url,
    writer: new MarketWriter(client, new KvLayout()),
    url: { router: routerUrl, envoy: envoy.url },
  };
  await waitHeld(rig, first, 60_000);
  return rig;
}

/**
 * Waits until both planes hold `n` markets (the router's table and the control plane's follower
 * count them, each plane routes the last market to its seeded cell); returns the seconds each
 * plane took from the call.
 */
export async function waitHeld(rig: Rig, n: number, timeoutMs: number): Promise<Record<PlaneName, number>> {
  const t0 = performance.now();
  const last = marketId(n - 1);
  const held = async (plane: PlaneName): Promise<number> => {
    const count = async () =>
      plane === 'router' ? (await routerTable(rig.routerUrl)).markets : ((await xdsFollower(rig.cp))?.markets ?? 0);
    await waitFor(
      async () => (await count()) === n && (await routedCell(rig.url[plane], last)) === seededCell(n - 1),
      timeoutMs,
      () => `the ${plane} to hold ${n} markets`,
      100,
    );
    return (performance.now() - t0) / 1000;
  };
  const [router, envoy] = await Promise.all([held('router'), held('envoy')]);
  return { router, envoy };
}
