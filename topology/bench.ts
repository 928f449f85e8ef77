/**
 * `npm run bench:operators`: on one real topology (`cellctl up --any-ports --cells 3`), under a
 * steady order load sent by vegeta through both routers and both Envoys: the freeze window of
 * repeated migrations (p50/p99/max), the time to move a market holding 10,000 orders, and the
 * rollback time of a rollout whose canary breaches its SLO. Prints one table and writes
 * bench/operators.md (infra/harness/bench-results.ts); loopback only, bounded in count and time.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { benchCommand, loadAverage, writeResults } from '../infra/harness/bench-results.js';
import { startUp } from '../infra/harness/up.js';
import { readTokenFile, tokenPath } from '../shared/tokens.js';
import { syntheticExport } from './bench-export.js';
import { startOrderLoad, type OrderLoad, type OrderOutcome } from './order-load.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));
const MIGRATIONS = Number(process.env.BENCH_MIGRATIONS ?? 20);
const BIG = Number(process.env.BENCH_ORDERS ?? 10_000);
const RATE = Number(process.env.BENCH_RATE ?? 40);
const RETRIES = Number(process.env.BENCH_RETRIES ?? 5);
const BAD_VERSION = 'v2-bad';
const BAD_BAKE = '10s';

interface Topo {
  routers: { url: string }[];
  envoys: { url: string }[];
  cells: { id: string; url: string }[];
}
interface Rec {
  state: string;
  freezeMs?: number;
  moveMs?: number;
  rows: { snapshot: number; delta: number };
  phases?: Record<string, number>;
  history?: { state: string; note?: string }[];
}
interface RolloutRec {
  state: string;
  rollbackMs?: number;
  waves: { cells: string[]; state: string }[];
  report?: string;
}

/** How many delta copies the freeze window needed (from the `verifying` history note). */
const deltaCopies = (rec: Rec) =>
  Number(/after (\d+) delta cop/.exec(rec.history?.find((h) => h.state === 'verifying')?.note ?? '')?.[1] ?? NaN);

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)] ?? NaN;

/**
 * The longest event-loop stall of a cell since the previous call, ms: prom-client's
 * `nodejs_eventloop_lag_max_seconds`, whose histogram resets at every scrape.
 */
async function stallMs(cellUrl: string): Promise<number> {
  const text = await (await fetch(`${cellUrl}/metrics`)).text();
  return Math.round(Number(/^nodejs_eventloop_lag_max_seconds(?:{[^}]*})? (\S+)$/m.exec(text)?.[1] ?? NaN) * 1000);
}

/** Failed orders grouped by status, error code, plane, cell and part of the run. */
function failureKinds(failed: OrderOutcome[], isRouter: (url: string) => boolean, phaseOf: (at: number) => string): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const f of failed) {
    const key = `${f.status} ${f.error ?? ''}${f.givenUp ? ' (retry not sent: load ended)' : ''} via ${isRouter(f.target) ? 'router' : 'envoy'} to ${f.cell ?? '?'} during ${phaseOf(f.sentAt)}`;
    kinds[key] = (kinds[key] ?? 0) + 1;
  }
  return kinds;
}

async function main(): Promise<void> {
  const loadBefore = loadAverage();
  const data = mkdtempSync(join(tmpdir(), 'cellsim-bench-ops-'));
  const env = { ...process.env, CELLSIM_DATA: data };
  /** Runs cellctl; resolves with its exit code and output whatever the code. */
  const cellctlRun = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [CELLCTL, ...args], { env, timeout: 180_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      ),
    );
  const cellctl = async (args: string[]) => {
    const r = await cellctlRun(args);
    if (r.code !== 0) throw new Error(`cellctl ${args.join(' ')}: ${r.stderr || `exit ${r.code}`}`);
    return r.stdout;
  };
  process.stdout.write(`starting a topology in ${data} ...\n`);
  const up = await startUp({ data, name: 'bench-up', env: { CELLSIM_CLEANUP_GRACE_MS: '300' }, readyTimeoutMs: 180_000 });
  let load: OrderLoad | undefined;
  try {
    const topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
    const token = readTokenFile(tokenPath(data, 'cell-admin')); // a cell's admin API takes the cell-admin token
    const targets = [...topo.routers.map((r) => r.url), ...topo.envoys.map((e) => e.url)];
    // boise is one of the canary cell-0's markets: the bad rollout's bake needs its traffic.
    const markets = ['sf', 'la', 'nyc', 'boise', 'chicago'];
    const big = 'bench-10k';
    // Built before the load starts: building it stalls this process, and the load's writer with it.
    const bulk = syntheticExport(big, BIG);
    const resultsFile = join(data, 'load-results.json');
    load = startOrderLoad({ targets, markets, rate: RATE, maxMs: 600_000, retries: RETRIES, resultsFile });
    await new Promise((r) => setTimeout(r, 2000));

    // 1. Freeze windows: move sf and la back and forth between cell-1 and cell-2.
    const freezes: number[] = [];
    const moves: number[] = [];
    const phases = new Map<string, number[]>();
    const copies: number[] = [];
    for (let i = 0; i < MIGRATIONS; i++) {
      const market = i % 2 === 0 ? 'sf' : 'la';
      const owner = (JSON.parse(await cellctl(['markets', '--json'])) as { market: string; cell: string }[]).find(
        (m) => m.market === market,
      )!.cell;
      const to = owner === 'cell-1' ? 'cell-2' : 'cell-1';
      const rec = JSON.parse(await cellctl(['migrate', market, '--to', to, '--json', '--wait-cleanup'])) as Rec;
      if (rec.freezeMs !== undefined) freezes.push(rec.freezeMs);
      if (rec.moveMs !== undefined) moves.push(rec.moveMs);
      if (!Number.isNaN(deltaCopies(rec))) copies.push(deltaCopies(rec));
      for (const [k, v] of Object.entries(rec.phases ?? {})) phases.set(k, [...(phases.get(k) ?? []), v]);
      process.stdout.write(
        `  migration ${i + 1}/${MIGRATIONS}: ${market} → ${to} ${rec.state}, freeze ${rec.freezeMs} ms, ${deltaCopies(rec)} delta cop${deltaCopies(rec) === 1 ? 'y' : 'ies'}\n`,
      );
    }

    // 2. A market with 10,000 orders: bulk-loaded into cell-1, then moved to cell-2 under the same load.
    await cellctl(['assign', big, 'cell-1']);
    const cell1 = topo.cells.find((c) => c.id === 'cell-1')!.url;
    const cell2 = topo.cells.find((c) => c.id === 'cell-2')!.url;
    await Promise.all([stallMs(cell1), stallMs(cell2)]); // resets both histograms
    const bulkAt = Date.now();
    const res = await fetch(`${cell1}/admin/markets/${big}/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
      body: bulk,
    });
    if (!res.ok) throw new Error(`bulk import failed: ${res.status} ${await res.text()}`);
    const bulkStall = await stallMs(cell1);
    await stallMs(cell2);
    const t0 = Date.now();
    const bigRec = JSON.parse(await cellctl(['migrate', big, '--to', 'cell-2', '--json'])) as Rec & { summary?: { orders: number } };
    const wall = Date.now() - t0;
    const moveStall = [await stallMs(cell1), await stallMs(cell2)];
    process.stdout.write(`  move of ${BIG} orders: ${bigRec.state} in ${wall} ms\n`);

    // 3. A rollout of a defective version: the canary breaches, every touched cell goes back.
    const rolloutAt = Date.now();
    const ro = await cellctlRun(['rollout', BAD_VERSION, '--bake', BAD_BAKE, '--json']);
    let rollout: Partial<RolloutRec> = {};
    try {
      rollout = JSON.parse(ro.stdout) as Partial<RolloutRec>;
    } catch {
      process.stdout.write(`  rollout ${BAD_VERSION}: no record (exit ${ro.code}): ${ro.stderr.slice(-500)}\n`);
    }
    process.stdout.write(`  rollout ${BAD_VERSION}: exit ${ro.code}, ${rollout.state}, rolled back in ${rollout.rollbackMs} ms\n`);
    const rolloutEnd = Date.now();

    const summary = await load.stop();
    const orders = summary.orders;
    /** The part of the run a request was sent in. */
    const phaseOf = (at: number) =>
      at < bulkAt
        ? 'migrations'
        : at < t0
          ? `bulk import of ${BIG} orders into cell-1`
          : at < rolloutAt
            ? `move of ${BIG} orders`
            : at < rolloutEnd
              ? `rollout of ${BAD_VERSION}`
              : 'end of the load';
    const ok = (o: OrderOutcome) => o.status === 201 || o.status === 200;
    const inRollout = (o: OrderOutcome) => o.sentAt >= rolloutAt && o.sentAt < rolloutEnd;
    const failed = orders.filter((o) => !ok(o) && !inRollout(o));
    const rolloutFailed = orders.filter((o) => !ok(o) && inRollout(o));
    const retried = orders.filter((o) => o.attempts > 1);
    const waves = rollout.waves?.map((w) => `${w.cells.join('+')} ${w.state}`).join(', ') ?? '?';

    const head = `figure (load: vegeta, ${RATE} requests/s through 2 routers + 2 Envoys)`;
    const rows: [string, string][] = [
      [`freeze window p50 (${freezes.length} migrations)`, `${quantile(freezes, 0.5)} ms`],
      ['freeze window p99', `${quantile(freezes, 0.99)} ms`],
      ['freeze window max', `${Math.max(...freezes)} ms`],
      ['move time p50 (start → flip)', `${quantile(moves, 0.5)} ms`],
      ['freeze window parts, p50 each', [...phases].map(([k, v]) => `${k} ${quantile(v, 0.5)}`).join(', ')],
      [
        'delta copies inside the freeze: mean / max',
        `${(copies.reduce((a, b) => a + b, 0) / copies.length).toFixed(2)} / ${Math.max(...copies)}`,
      ],
      [`move of ${bigRec.summary?.orders ?? '?'} orders: start → flip`, `${bigRec.moveMs} ms`],
      [`move of ${BIG} orders: freeze window`, `${bigRec.freezeMs} ms`],
      [`move of ${BIG} orders: cellctl migrate wall time`, `${wall} ms`],
      [`longest event-loop stall: cell-1 during the bulk import of ${BIG} orders`, `${bulkStall} ms`],
      [`longest event-loop stall during the move: cell-1 (source) / cell-2 (target)`, `${moveStall[0]} / ${moveStall[1]} ms`],
      [
        `rollout of ${BAD_VERSION} (20% errors on POST, bake ${BAD_BAKE}): rollback time (record's rollbackMs: breach → every touched cell's active colour and version back in Consul)`,
        `${rollout.rollbackMs ?? '?'} ms (${rollout.state ?? `exit ${ro.code}`}; waves: ${waves})`,
      ],
      ['orders sent / failed (outside the bad rollout)', `${orders.length} / ${failed.length}`],
      [`orders failed during the bad rollout (its injected errors; expected)`, `${rolloutFailed.length}`],
      [
        `orders retried after 503 + Retry-After (up to ${RETRIES} times) / retries sent`,
        `${retried.length} / ${summary.retries} (${retried.filter(ok).length} of those orders then succeeded)`,
      ],
      [
        'requests sent by vegeta (orders + retries): p50 / p99 / max',
        `${summary.requests}: ${summary.report.p50.toFixed(1)} / ${summary.report.p99.toFixed(1)} / ${summary.report.max.toFixed(0)} ms`,
      ],
      ['machine load average (1 min), start → end', `${loadBefore[0]!.toFixed(1)} → ${loadAverage()[0]!.toFixed(1)}`],
    ];
    const t = new Table({ head: [head, 'value'] });
    t.push(...rows);
    process.stdout.write(`${t.toString()}\n`);
    const isRouter = (url: string) => topo.routers.some((r) => r.url === url);
    const kinds = failureKinds([...failed, ...rolloutFailed], isRouter, phaseOf);
    if (Object.keys(kinds).length) process.stdout.write(`failed by kind: ${JSON.stringify(kinds)}\n`);
    if (failed.length) process.stdout.write(`failed samples: ${JSON.stringify(failed.slice(0, 3))}\n`);
    const out = join(ROOT, 'bench', 'operators.md');
    writeResults(
      out,
      {
        title: 'Operator workflows under load',
        command: benchCommand('bench:operators'),
        loadBefore,
        settings: `vegeta at a fixed ${RATE} requests/s (live targets), \`POST /v1/orders\` round-robin over the 2 routers and 2 Envoys and the markets ${markets.join(', ')}, each order with its own Idempotency-Key; a 503 with Retry-After is sent again with the same key after the advertised delay (at most 2 s, up to ${RETRIES} times), and retries take slots of the fixed rate`,
        about: [
          `One topology (\`cellctl up --any-ports --cells 3\`: real Consul, 3 cells, 2 routers, 2 Envoys, the control plane) on this machine. ${MIGRATIONS} migrations of sf and la between cell-1 and cell-2, then a market of ${BIG} bulk-imported orders moved from cell-1 to cell-2, then \`cellctl rollout ${BAD_VERSION} --bake ${BAD_BAKE}\` (the canary cell-0 breaches, the rollout rolls back).`,
        ],
      },
      [{ head: [head, 'value'], rows, notes: Object.keys(kinds).length ? [`Failed orders by kind: \`${JSON.stringify(kinds)}\``] : [] }],
    );
    process.stdout.write(`written to ${out}\n`);
  } finally {
    await load?.stop().catch(() => undefined);
    await up.stop(30_000);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:operators: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
