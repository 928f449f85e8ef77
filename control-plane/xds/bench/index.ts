/**
 * `npm run bench:xds`: the xDS control plane and Envoy measured in one run on this machine,
 * with real Consul, the real control plane and Envoy processes, a bare upstream and vegeta:
 *  1. Envoy throughput (vegeta, closed model: 8 workers) with a 10-market table (a second control
 *     plane and Envoy on another KV prefix) and with the 100,000-market table, interleaved;
 *  2. Envoy RSS at 10 and 100,000 markets, and the initial sync of 100,000 markets.
 * Results: bench/xds.md. A move's propagation to Envoy (and to the router), the xDS bytes and
 * the snapshot build per move are measured by `npm run bench:propagation`
 * (loadtest/bench/propagation.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { request } from 'undici';
import { benchCommand, loadAverage, writeResults } from '../../../infra/harness/bench-results.js';
import { startConsul } from '../../../infra/harness/consul.js';
import { measureLoad, type LoadFigures } from '../../../infra/harness/market-load.js';
import { parseDurationMs } from '../../../shared/cli.js';
import { freePorts } from '../../../infra/ports.js';
import { ProcessScope, waitFor } from '../../../infra/process.js';
import { seedKv } from '../../../infra/harness/echo-cell.js';
import { startControlPlane, startTestEnvoy, type TestControlPlane, type TestEnvoy } from '../testing.js';
import { findDescendant, metricSum, putMarkets, rssMb } from './measure.js';

const BIG = Number(process.env.BENCH_MARKETS ?? 100_000);
/** Length of each throughput run. */
const DURATION = process.env.BENCH_DURATION ?? '4s';
const DURATION_MS = parseDurationMs(DURATION);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** vegeta's worker pool in the throughput runs (closed model: each worker waits for its answer). */
const WORKERS = 8;
const UPSTREAM = fileURLToPath(new URL('./upstream.ts', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../../bench/xds.md', import.meta.url));
/** vegeta's targets and results files, removed however the run ends. */
const VEGETA_DIR = mkdtempSync(join(tmpdir(), 'xds-bench-vegeta-'));
const log = (msg: string) => process.stderr.write(`[bench:xds ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const cellOf = (i: number) => (i % 2 === 0 ? 'cell-a' : 'cell-b');

async function routedCell(url: string, market: string): Promise<string | undefined> {
  const res = await request(`${url}/v1/orders`, { headers: { 'x-market-id': market } });
  await res.body.dump();
  const h = res.headers['x-cell-id'];
  return res.statusCode === 200 && typeof h === 'string' ? h : undefined;
}

async function metrics(cp: TestControlPlane): Promise<string> {
  return (await fetch(`${cp.httpUrl}/metrics`)).text();
}

/** Envoy's throughput with WORKERS vegeta workers, each request naming a random market of m-0..m-(markets-1). */
function throughput(envoy: TestEnvoy, markets: number): Promise<LoadFigures> {
  return measureLoad({ url: envoy.url, markets, rate: 0, workers: WORKERS, durationMs: DURATION_MS, dir: VEGETA_DIR });
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const loadBefore = loadAverage();
  const scope = new ProcessScope();
  await scope.run(async () => {
    log('starting consul, upstream, control plane, envoy');
    const consul = await startConsul();
    scope.adopt(consul.proc);
    const [pa, pb] = (await freePorts(2)) as [number, number];
    await scope.start({
      name: 'upstream',
      command: process.execPath,
      args: ['--import', 'tsx', UPSTREAM, consul.url, `cell-a=${pa}`, `cell-b=${pb}`],
      ready: { logLine: /upstream ready/ },
    });
    await seedKv(consul.url, { cells: { 'cell-a': {}, 'cell-b': {} } });
    await putMarkets(consul.url, 0, 10, cellOf);
    const cp = await startControlPlane(scope, { consulUrl: consul.url, id: 'cp-bench', holdMs: 0, testHooks: false, logLevel: 'warn' });
    const envoy = await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'bench-edge', readyTimeoutMs: 120_000 });
    const envoyPid = findDescendant(envoy.proc.pid, 'envoy');
    await waitFor(
      async () => (await routedCell(envoy.url, 'm-9')) === 'cell-b',
      30_000,
      () => 'm-9 routed',
    );
    const rss10 = envoyPid ? rssMb(envoyPid) : NaN;
    // A second control plane + Envoy on another KV prefix keeps a 10-market table for the
    // throughput comparison, run interleaved with the 100,000-market Envoy at the end.
    await seedKv(consul.url, { cells: { 'cell-a': {}, 'cell-b': {} } }, 'small/');
    await putMarkets(consul.url, 0, 10, cellOf, 'small/');
    const cpSmall = await startControlPlane(scope, {
      consulUrl: consul.url,
      id: 'cp-small',
      holdMs: 0,
      testHooks: false,
      logLevel: 'warn',
      prefix: 'small/',
    });
    const envoySmall = await startTestEnvoy(scope, { xdsPort: cpSmall.xdsPort, id: 'bench-edge-small' });
    await waitFor(
      async () => (await routedCell(envoySmall.url, 'm-9')) === 'cell-b',
      30_000,
      () => 'm-9 routed by the small Envoy',
    );

    log(`${BIG.toLocaleString('en')} markets: writing to Consul`);
    await putMarkets(consul.url, 10, BIG, cellOf);
    const syncT0 = performance.now();
    const last = `m-${BIG - 1}`;
    await waitFor(
      async () => (await routedCell(envoy.url, last)) === cellOf(BIG - 1),
      300_000,
      () => `${last} routed`,
      200,
    );
    const syncMs = performance.now() - syncT0;
    // The control plane's market follower holds the whole table.
    await waitFor(
      async () => {
        const s = (await (await fetch(`${cp.httpUrl}/xds/status`)).json()) as { consul: { marketFollower: { markets: number } } };
        return s.consul.marketFollower.markets === BIG;
      },
      60_000,
      () => 'the market follower to hold the markets',
      500,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const rssBig = envoyPid ? rssMb(envoyPid) : NaN;
    log(`${BIG} markets in Envoy after ${f0(syncMs)} ms`);
    log(`throughput: 10 vs ${BIG} markets, ${ROUNDS} interleaved rounds`);
    await throughput(envoySmall, 10); // warm-up of both paths
    await throughput(envoy, BIG);
    const small: LoadFigures[] = [];
    const big: LoadFigures[] = [];
    // The order is swapped every round: the second run of a pair was measured after the first
    // one's garbage and Consul work, a bias that always fell on the 100,000-market Envoy.
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) {
        small.push(await throughput(envoySmall, 10));
        big.push(await throughput(envoy, BIG));
      } else {
        big.push(await throughput(envoy, BIG));
        small.push(await throughput(envoySmall, 10));
      }
    }
    log(`throughput per round: 10 markets ${small.map((x) => f0(x.rps)).join(' ')}; ${BIG} ${big.map((x) => f0(x.rps)).join(' ')}`);
    const median = (xs: LoadFigures[]) => {
      const byRps = [...xs].sort((a, b) => a.rps - b.rps);
      return byRps[Math.floor(byRps.length / 2)]!;
    };
    const tp10 = median(small);
    const tpBig = median(big);
    const failed = (xs: LoadFigures[]) => xs.reduce((n, x) => n + x.failed, 0);
    const cpMetrics = await metrics(cp);

    const head = ['measure', '10 markets', `${BIG.toLocaleString('en')} markets`];
    const rows: string[][] = [
      [
        `Envoy throughput, vegeta ${WORKERS} workers ${DURATION}, median of ${ROUNDS} interleaved runs (req/s)`,
        f0(tp10.rps),
        f0(tpBig.rps),
      ],
      ['  latency p50 / p99 of that run (ms)', `${f1(tp10.p50)} / ${f1(tp10.p99)}`, `${f1(tpBig.p50)} / ${f1(tpBig.p99)}`],
      ['  answers not 200, all runs', f0(failed(small)), f0(failed(big))],
      ['Envoy RSS (MB)', f1(rss10), f1(rssBig)],
      ['initial sync of the new markets into Envoy (ms)', '', f0(syncMs)],
      [`Envoy throughput, ${BIG.toLocaleString('en')} vs 10 markets (%)`, '', f1((tpBig.rps / tp10.rps) * 100)],
      ['control-plane snapshot size (KiB)', '', f0(metricSum(cpMetrics, 'cellsim_xds_snapshot_bytes') / 1024)],
    ];
    const title = 'xDS control plane + Envoy 1.40 (delta ADS, scoped routes)';
    const table = new Table({ head });
    table.push(...rows);
    process.stdout.write(`\n${title}\n${table.toString()}\n`);
    const settings =
      `vegeta attack (JSON targets file, GET /v1/orders with x-market-id drawn at random among the markets), ` +
      `-rate=0 -workers=${WORKERS} -max-workers=${WORKERS} (closed model) for ${DURATION} per run, unpinned; ${ROUNDS} interleaved rounds after one warm-up run per Envoy`;
    writeResults(
      RESULTS,
      {
        title: `bench:xds — ${title}`,
        command: benchCommand('bench:xds'),
        loadBefore,
        settings,
      },
      [
        {
          head,
          rows,
          notes: [
            `Total ${f0((Date.now() - t0) / 1000)} s. ` +
              "Throughput is vegeta's (successful answers per second), latencies from `vegeta report`. " +
              'Move propagation, bytes per move and the snapshot build per change: `npm run bench:propagation` (bench/propagation.md).',
          ],
        },
      ],
    );
    process.stdout.write(
      `${settings}\nload average at start ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, at end ${loadAverage()
        .map((x) => x.toFixed(2))
        .join(' ')}; node ${process.version}; total ${f0((Date.now() - t0) / 1000)} s; written to ${RESULTS}\n`,
    );
  });
}

try {
  await main();
} finally {
  rmSync(VEGETA_DIR, { recursive: true, force: true });
}
