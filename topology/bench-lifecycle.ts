/**
 * `npm run bench:lifecycle`: on one real topology (`cellctl up --any-ports`: 3 cells, 36 markets),
 * under a steady order load sent by vegeta through both routers and both Envoys: the time from
 * `cellctl cells add` until the new cell takes traffic (passing its checks and active, then a
 * market moved onto it and an order answered by it through every plane), and a `cellctl rebalance`
 * over the 36 markets (plan size, moves, time). Prints one table and writes bench/lifecycle.md
 * (infra/harness/bench-results.ts); loopback only, bounded in count and time.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { benchCommand, loadAverage, writeResults } from '../infra/harness/bench-results.js';
import { startUp } from '../infra/harness/up.js';
import { startOrderLoad, type OrderLoad } from './order-load.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));
const RATE = Number(process.env.BENCH_RATE ?? 24);
const NEW_CELL = 'cell-3';

interface Topo {
  routers: { url: string }[];
  envoys: { url: string }[];
}

async function main(): Promise<void> {
  const loadBefore = loadAverage();
  const data = mkdtempSync(join(tmpdir(), 'cellsim-bench-lifecycle-'));
  const env = { ...process.env, CELLSIM_DATA: data };
  const cellctl = (args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [CELLCTL, ...args], { env, timeout: 300_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`cellctl ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
      ),
    );
  process.stdout.write(`starting a topology in ${data} ...\n`);
  const up = await startUp({ data, name: 'bench-up', env: { CELLSIM_CLEANUP_GRACE_MS: '300' }, readyTimeoutMs: 180_000 });
  let load: OrderLoad | undefined;
  try {
    const topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
    const targets = [...topo.routers.map((r) => r.url), ...topo.envoys.map((e) => e.url)];
    const all = JSON.parse(await cellctl(['markets', '--json'])) as { market: string; cell: string }[];
    // The load lands on cell-1's markets more than elsewhere, so a rebalance has a busy cell to relieve.
    const busy = all.filter((m) => m.cell === 'cell-1').map((m) => m.market);
    const markets = [...busy, ...busy, ...all.map((m) => m.market)];
    load = startOrderLoad({ targets, markets, rate: RATE, maxMs: 600_000, resultsFile: join(data, 'load-results.json') });
    await new Promise((r) => setTimeout(r, 3000));

    // 1. Add a cell until it takes traffic.
    const t0 = Date.now();
    await cellctl(['cells', 'add', NEW_CELL, '--capacity', '12']);
    const activeMs = Date.now() - t0;
    const market = busy[0]!;
    await cellctl(['migrate', market, '--to', NEW_CELL]);
    const movedMs = Date.now() - t0;
    let servedMs = NaN;
    for (let i = 0; i < 100 && Number.isNaN(servedMs); i++) {
      const cells = await Promise.all(
        targets.map(async (base) => {
          const res = await fetch(`${base}/v1/orders?limit=1`, { headers: { 'x-market-id': market } });
          await res.arrayBuffer();
          return res.status === 200 ? res.headers.get('x-cell-id') : null;
        }),
      );
      if (cells.every((c) => c === NEW_CELL)) servedMs = Date.now() - t0;
      else await new Promise((r) => setTimeout(r, 100));
    }

    // 2. Rebalance the 36 markets by measured load.
    const t1 = Date.now();
    const r = JSON.parse(await cellctl(['rebalance', '--window', '3s', '--max-moves', '36', '--json'])) as {
      moves?: { market: string; to: string; state?: string }[];
      plan?: unknown[];
    };
    const rebalanceMs = Date.now() - t1;
    const moves = r.moves ?? [];
    const summary = await load.stop();
    load = undefined;
    const failed = summary.orders.filter((o) => o.status !== 201);

    const rows: [string, string][] = [
      [`cells add ${NEW_CELL} → passing its checks and active (both planes route it)`, `${activeMs} ms`],
      [`… then ${market} migrated onto it (cellctl migrate returns)`, `${movedMs} ms`],
      [`… then every router and Envoy answers ${market} from ${NEW_CELL}`, `${servedMs} ms`],
      [`rebalance of ${all.length} markets (--window 3s --max-moves 36): markets moved`, `${moves.length}`],
      ['rebalance: time (measure, plan, moves)', `${rebalanceMs} ms`],
      ['orders sent / failed', `${summary.orders.length} / ${failed.length}`],
      ['machine load average (1 min), start → end', `${loadBefore[0]!.toFixed(1)} → ${loadAverage()[0]!.toFixed(1)}`],
    ];
    const head = 'cell lifecycle under load';
    const t = new Table({ head: [head, 'value'] });
    t.push(...rows);
    process.stdout.write(`${t.toString()}\n`);
    const out = join(ROOT, 'bench', 'lifecycle.md');
    writeResults(
      out,
      {
        title: 'Cell lifecycle under load',
        command: benchCommand('bench:lifecycle'),
        loadBefore,
        settings: `vegeta at a fixed ${RATE} requests/s, \`POST /v1/orders\` round-robin over the 2 routers and 2 Envoys; cell-1's markets weighted three times the others`,
        about: [
          `One topology (\`cellctl up --any-ports\`: real Consul, 3 cells, ${all.length} markets, 2 routers, 2 Envoys, the control plane) on this machine. \`cellctl cells add ${NEW_CELL} --capacity 12\`, \`cellctl migrate ${market} --to ${NEW_CELL}\`, then \`cellctl rebalance --window 3s --max-moves 36\`, one after another, in one run.`,
        ],
      },
      [{ head: [head, 'value'], rows, notes: failed.length ? [`Failed samples: \`${JSON.stringify(failed.slice(0, 3))}\``] : [] }],
    );
    process.stdout.write(`written to ${out}\n`);
  } finally {
    await load?.stop().catch(() => undefined);
    await up.stop(30_000);
    rmSync(data, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:lifecycle: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
