/**
 * `npm run bench:propagation`: how fast and at what cost a move reaches both planes, which follow
 * `markets/` through the one market follower (shared/markets/follower.ts). One run, both planes
 * side by side (./propagation-rig.ts: real Consul, one router, the xDS control plane and Envoy),
 * at 10, 10,000 and 100,000 markets (`BENCH_SIZES`). Per size, after the table was seeded without
 * the change log and both planes hold it, `BENCH_MOVES` (100) moves written one at a time with
 * `MarketWriter.put` (as a migration's flip writes), each polled through the router and through
 * Envoy until both answer from the new cell:
 *  - propagation KV write → first request routed to the new cell, p50/p99/max per plane;
 *  - bytes each plane's follower read per move (its `bytes.changes` counter over the moves, and
 *    the last change's bytes), key reads per move, and apart, the reconcile listing's bytes per
 *    second during the moves;
 *  - the xDS snapshot build per change (cellsim_xds_snapshot_build_seconds), the xDS bytes sent to
 *    Envoy per move, Consul's CPU per move (/proc), router RSS and table worker heap.
 * Writes bench/propagation.md (infra/harness/bench-results.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchCommand, benchSizes, loadAverage, writeResults } from '../../infra/harness/bench-results.js';
import { ProcessScope, waitFor } from '../../infra/process.js';
import { metricSum, pct, rssMb } from '../../control-plane/xds/bench/measure.js';
import { cpuSeconds } from '../../router/bench/measure.js';
import { CHANGE_LOG_SIZE } from '../../shared/markets/change-log.js';
import {
  PLANES,
  SEED_EPOCH,
  cpMetrics,
  followers,
  marketId,
  routedCell,
  routerTable,
  seedMarkets,
  seededCell,
  startRig,
  waitHeld,
  type Cell,
  type FollowerCounters,
  type PlaneName,
  type Rig,
} from './propagation-rig.js';

const RESULTS = fileURLToPath(new URL('../../bench/propagation.md', import.meta.url));
const SIZES = benchSizes('10,10000,100000');
const MOVES = Math.max(1, Number(process.env.BENCH_MOVES ?? 100));
/** Untimed moves per size before the timed ones (JIT, connections, the log's length). */
const WARM = Math.max(1, Number(process.env.BENCH_WARM_MOVES ?? 3));
/** A move not seen by a plane in this long fails the run. */
const MOVE_TIMEOUT_MS = 30_000;
const TARGET_SIZE = 100_000;
const TARGET_P99_MS = 50;
const WORK_DIR = mkdtempSync(join(tmpdir(), 'propagation-bench-'));

const log = (msg: string) => process.stderr.write(`[bench:propagation ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '-');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const sizeLabel = (n: number) => n.toLocaleString('en');
const PLANE_LABEL: Record<PlaneName, string> = { router: 'router', envoy: 'Envoy (xDS control plane)' };

/** What the bench knows of each market it moved: its cell and epoch now. */
type Owners = Map<number, { cell: Cell; epoch: number }>;

/** Figures of one table size. */
interface SizeFigures {
  size: number;
  /** Seed (without the log) → the plane holds and routes the table, s; undefined for the first size. */
  syncS: Record<PlaneName, number> | undefined;
  writeMs: number[];
  seenMs: Record<PlaneName, number[]>;
  follow: Record<PlaneName, FollowFigures>;
  buildMs: number;
  buildsPerMove: number;
  xdsBytesPerMove: number;
  pushMs: number;
  consulCpuMsPerMove: number;
  routerRssMb: number;
  workerHeapMb: [number, number] | undefined;
}

/** One plane's follower over the timed moves (counter deltas). */
interface FollowFigures {
  bytesPerMove: number;
  lastChangeBytes: number;
  keyReadsPerMove: number;
  changes: number;
  listings: number;
  listingBytesPerS: number;
  listingIntervalMs: number;
}

/** The next market to move at `size`: a fixed pseudo-random sequence (xorshift32), the same every run. */
function picker(size: number): () => number {
  let x = (0x9e3779b9 ^ size) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % size;
  };
}

/** Moves market `i` to its other cell with `MarketWriter.put`, then polls both planes until each routes it there. */
async function move(rig: Rig, owners: Owners, i: number): Promise<{ writeMs: number; seenMs: Record<PlaneName, number> }> {
  const market = marketId(i);
  const cur = owners.get(i) ?? { cell: seededCell(i), epoch: SEED_EPOCH };
  const to: Cell = cur.cell === 'cell-a' ? 'cell-b' : 'cell-a';
  const t0 = performance.now();
  if (!(await rig.writer.put(market, { cell: to, state: 'active', epoch: cur.epoch + 1 }))) throw new Error(`write of ${market} refused`);
  const writeMs = performance.now() - t0;
  owners.set(i, { cell: to, epoch: cur.epoch + 1 });
  const seen = async (plane: PlaneName): Promise<number> => {
    for (;;) {
      if ((await routedCell(rig.url[plane], market)) === to) return performance.now() - t0;
      if (performance.now() - t0 > MOVE_TIMEOUT_MS)
        throw new Error(`the ${plane} did not route ${market} to ${to} in ${MOVE_TIMEOUT_MS} ms`);
    }
  };
  const [router, envoy] = await Promise.all([seen('router'), seen('envoy')]);
  return { writeMs, seenMs: { router, envoy } };
}

/**
 * Fills the change log to its full length (CHANGE_LOG_SIZE writes, not polled), so every timed
 * move reads a log of the same length at every size; waits until both followers applied it.
 */
async function primeLog(rig: Rig, owners: Owners, size: number): Promise<void> {
  for (let k = 0; k < CHANGE_LOG_SIZE; k++) {
    const i = k % size;
    const cur = owners.get(i) ?? { cell: seededCell(i), epoch: SEED_EPOCH };
    await rig.writer.put(marketId(i), { cell: cur.cell, state: 'active', epoch: cur.epoch + 1 });
    owners.set(i, { cell: cur.cell, epoch: cur.epoch + 1 });
  }
  const { log: changeLog } = await rig.writer.readLog();
  let seen = '';
  await waitFor(
    async () => {
      const f = await followers(rig);
      seen = `router ${f.router?.changeSeq}, xDS ${f.envoy?.changeSeq}`;
      return Object.values(f).every((x) => x?.changeSeq === changeLog.seq);
    },
    30_000,
    () => `both followers at change ${changeLog.seq} (last seen: ${seen})`,
    100,
  );
}

/** The follower's deltas between two readings (the router's are as of its table worker's last follower step). */
function followFigures(a: FollowerCounters | undefined, b: FollowerCounters | undefined, moves: number): FollowFigures {
  if (!a || !b) throw new Error('a plane reported no market follower counters');
  const windowS = ((b.lastChange?.receivedAt ?? 0) - (a.lastChange?.receivedAt ?? 0)) / 1000;
  return {
    bytesPerMove: (b.bytes.changes - a.bytes.changes) / moves,
    lastChangeBytes: b.lastChange?.bytes ?? NaN,
    keyReadsPerMove: (b.keyReads - a.keyReads) / moves,
    changes: (b.changeSeq ?? NaN) - (a.changeSeq ?? NaN),
    listings: b.listings - a.listings,
    listingBytesPerS: windowS > 0 ? (b.bytes.listings - a.bytes.listings) / windowS : NaN,
    listingIntervalMs: b.listingIntervalMs,
  };
}

async function measureSize(rig: Rig, owners: Owners, size: number, syncS: SizeFigures['syncS']): Promise<SizeFigures> {
  await sleep(1000); // let the seed's listings and snapshot writes settle
  const next = picker(size);
  for (let k = 0; k < WARM; k++) await move(rig, owners, next());
  const before = await followers(rig);
  const m0 = await cpMetrics(rig.cp);
  const c0 = rig.consulPid === undefined ? NaN : cpuSeconds(rig.consulPid);
  const writeMs: number[] = [];
  const seenMs: Record<PlaneName, number[]> = { router: [], envoy: [] };
  for (let k = 0; k < MOVES; k++) {
    const r = await move(rig, owners, next());
    writeMs.push(r.writeMs);
    for (const p of PLANES) seenMs[p].push(r.seenMs[p]);
  }
  const c1 = rig.consulPid === undefined ? NaN : cpuSeconds(rig.consulPid);
  const after = await followers(rig);
  const m1 = await cpMetrics(rig.cp);
  const d = (name: string) => metricSum(m1, name) - metricSum(m0, name);
  const builds = d('cellsim_xds_snapshot_build_seconds_count');
  const follow = { router: followFigures(before.router, after.router, MOVES), envoy: followFigures(before.envoy, after.envoy, MOVES) };
  for (const p of PLANES) {
    if (follow[p].changes !== MOVES)
      log(`the ${p}'s follower counted ${follow[p].changes} changes over ${MOVES} moves (its counters may lag)`);
  }
  return {
    size,
    syncS,
    writeMs,
    seenMs,
    follow,
    buildMs: (d('cellsim_xds_snapshot_build_seconds_sum') / Math.max(1, builds)) * 1000,
    buildsPerMove: builds / MOVES,
    xdsBytesPerMove: d('cellsim_xds_response_bytes_total') / MOVES,
    pushMs: (d('cellsim_xds_push_latency_seconds_sum') / Math.max(1, d('cellsim_xds_push_latency_seconds_count'))) * 1000,
    consulCpuMsPerMove: ((c1 - c0) * 1000) / MOVES,
    routerRssMb: rssMb(rig.routerPid),
    workerHeapMb: (await routerTable(rig.routerUrl)).lastMarketsChange?.workerHeapMb,
  };
}

/** `x` against `base` in percent, signed. */
const vsPct = (x: number, base: number) => {
  const v = (100 * x) / base - 100;
  return Number.isFinite(v) ? `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(1)} %` : '-';
};

function rows(figs: SizeFigures[]): string[][] {
  const first = figs[0]!;
  const last = figs.at(-1)!;
  const atTarget = figs.find((f) => f.size === TARGET_SIZE);
  const span = `${sizeLabel(last.size)} vs ${sizeLabel(first.size)}`;
  const perSize = (cell: (f: SizeFigures) => string) => figs.map(cell);
  const out: string[][] = [];
  for (const p of PLANES) {
    const p99 = atTarget ? pct(atTarget.seenMs[p], 0.99) : NaN;
    out.push([
      `${PLANE_LABEL[p]}: KV write → first request routed to the new cell, p50 / p99 / max ms`,
      ...perSize((f) => `${f1(pct(f.seenMs[p], 0.5))} / ${f1(pct(f.seenMs[p], 0.99))} / ${f1(Math.max(...f.seenMs[p]))}`),
      atTarget
        ? `p99 at ${sizeLabel(TARGET_SIZE)}: ${f1(p99)} ms, ${p99 <= TARGET_P99_MS ? 'met' : 'missed'}`
        : `${sizeLabel(TARGET_SIZE)} not measured`,
      `p99 ≤ ${TARGET_P99_MS} ms at ${sizeLabel(TARGET_SIZE)}`,
    ]);
  }
  out.push([
    'the write (MarketWriter.put: change-log read + one transaction), p50 / p99 ms',
    ...perSize((f) => `${f1(pct(f.writeMs, 0.5))} / ${f1(pct(f.writeMs, 0.99))}`),
    '',
    '',
  ]);
  for (const p of PLANES) {
    const a = first.follow[p].bytesPerMove;
    const b = last.follow[p].bytesPerMove;
    const within = Math.abs(b / a - 1) <= 0.1;
    out.push([
      `${PLANE_LABEL[p]}: bytes read per move (follower bytes.changes / moves; last change's bytes)`,
      ...perSize((f) => `${f0(f.follow[p].bytesPerMove)} (${f0(f.follow[p].lastChangeBytes)})`),
      `${span}: ${vsPct(b, a)}${figs.length > 1 ? `, ${within ? 'within' : 'not within'} 10 %` : ''}`,
      `within 10 % from 10 to ${sizeLabel(TARGET_SIZE)}`,
    ]);
  }
  out.push([
    'key reads per move, router / xDS',
    ...perSize((f) => `${f2(f.follow.router.keyReadsPerMove)} / ${f2(f.follow.envoy.keyReadsPerMove)}`),
    '',
    '1 (one key per move)',
  ]);
  for (const p of PLANES) {
    out.push([
      `${PLANE_LABEL[p]}: reconcile listing during the moves, KiB/s (listings; pause between listings, ms)`,
      ...perSize((f) => `${f0(f.follow[p].listingBytesPerS / 1024)} (${f.follow[p].listings}; ${f0(f.follow[p].listingIntervalMs)})`),
      'the reconcile, apart from the moves',
      '',
    ]);
  }
  out.push([
    'xDS snapshot build per change, ms (builds per move)',
    ...perSize((f) => `${f2(f.buildMs)} (${f2(f.buildsPerMove)})`),
    `${span}: ${(last.buildMs / first.buildMs).toFixed(2)}×`,
    'flat',
  ]);
  out.push([
    'xDS bytes sent to Envoy per move; Consul answer → Envoy ACK, mean ms',
    ...perSize((f) => `${f0(f.xdsBytesPerMove)}; ${f1(f.pushMs)}`),
    '',
    '',
  ]);
  out.push([
    'Consul CPU per move, ms (all of Consul: the write, both followers, their listings)',
    ...perSize((f) => f1(f.consulCpuMsPerMove)),
    '',
    '',
  ]);
  out.push([
    'router RSS MB; table worker heap used / total MB',
    ...perSize((f) => `${f1(f.routerRssMb)}; ${f.workerHeapMb ? `${f.workerHeapMb[0]} / ${f.workerHeapMb[1]}` : '-'}`),
    '',
    '',
  ]);
  out.push([
    'seed without the log → the plane holds and routes the table (listing), s, router / Envoy',
    ...perSize((f) => (f.syncS ? `${f1(f.syncS.router)} / ${f1(f.syncS.envoy)}` : '-')),
    'written without the log: seen by the reconcile only',
    '',
  ]);
  return out;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const loadBefore = loadAverage();
  const scope = new ProcessScope();
  await scope.run(async () => {
    log(`starting Consul, upstream, router, control plane, Envoy; ${SIZES[0]} markets`);
    const rig = await startRig(scope, WORK_DIR, SIZES[0]!);
    const owners: Owners = new Map();
    log(`priming the change log (${CHANGE_LOG_SIZE} writes)`);
    await primeLog(rig, owners, SIZES[0]!);
    const figs: SizeFigures[] = [];
    let held = SIZES[0]!;
    for (const size of SIZES) {
      let syncS: SizeFigures['syncS'];
      if (size > held) {
        log(`seeding ${sizeLabel(size)} markets (without the log)`);
        await seedMarkets(rig.consulUrl, held, size);
        syncS = await waitHeld(rig, size, 300_000);
        held = size;
        log(`both planes hold ${sizeLabel(size)} markets (router ${f1(syncS.router)} s, Envoy ${f1(syncS.envoy)} s)`);
      }
      log(`${MOVES} moves at ${sizeLabel(size)} markets`);
      const f = await measureSize(rig, owners, size, syncS);
      log(
        `${sizeLabel(size)}: router p50/p99 ${f1(pct(f.seenMs.router, 0.5))}/${f1(pct(f.seenMs.router, 0.99))} ms, ` +
          `Envoy ${f1(pct(f.seenMs.envoy, 0.5))}/${f1(pct(f.seenMs.envoy, 0.99))} ms; ` +
          `bytes per move router ${f0(f.follow.router.bytesPerMove)}, xDS ${f0(f.follow.envoy.bytesPerMove)}`,
      );
      figs.push(f);
    }
    const head = ['measure', ...SIZES.map((n) => `${sizeLabel(n)} markets`), 'result', 'target'];
    const settings =
      `none: ${MOVES} moves per table size (${WARM} untimed first), written one at a time with MarketWriter.put; ` +
      `after each write the router and Envoy are polled back to back (one GET /v1/orders in flight per plane) until both answer from the new cell; ` +
      `sizes ${SIZES.map(sizeLabel).join(', ')}`;
    const md = writeResults(
      RESULTS,
      {
        title: 'bench:propagation — a move through the change log, router and Envoy side by side',
        command: benchCommand('bench:propagation'),
        loadBefore,
        settings,
        about: [
          'Real Consul (`-dev`), one bare upstream answering for cell-a and cell-b, one router (one worker, `--snapshot`, ' +
            '`NODE_OPTIONS=--max-semi-space-size=8` as deployed), the xDS control plane (`--hold-ms 0`) and one Envoy (`--concurrency 1`, delta ADS). ' +
            'Both planes follow `markets/` through the one market follower (docs/market-follower.md): a blocking read of the change log, ' +
            'one key read per changed market, and a paced listing of the whole prefix as reconcile.',
        ],
      },
      [
        {
          head,
          rows: rows(figs),
          notes: [
            'Method: each table size is seeded with Consul transactions of 64 `set`s, without the change log, so both followers find it ' +
              'with their listing (last row); once both planes route the last market, the log is full (primed with ' +
              `${CHANGE_LOG_SIZE} writes at the start) and every timed move reads a log of the same length. Market IDs have one width ` +
              '(`m-000000` …), records one length, so a move costs the same bytes at every size unless the design makes it grow. ' +
              'A move is timed from the start of `MarketWriter.put` (read of the log, then one transaction: the market and the log) to the first ' +
              "answer of each plane from the new cell. Bytes per move are each follower's `bytes.changes` counter over the timed moves " +
              "(router: /readyz `table.marketFollower`, as of its table worker's last follower step; control plane: /xds/status `consul.marketFollower`) " +
              "divided by the moves; the figure in brackets is the last change's `bytes`. The reconcile listing's bytes per second " +
              'are its `bytes.listings` counter over the same window, reported apart: its cost is the table read every pause, not a move. ' +
              'Snapshot build: the `cellsim_xds_snapshot_build_seconds` sum / count over the moves. Consul CPU: /proc/<pid>/stat of the ' +
              'consul process over the moves, divided by the moves (it includes the listings). Router RSS: /proc of the router process; ' +
              'table worker heap from /readyz `table.lastMarketsChange.workerHeapMb`.',
            `Total ${f0((Date.now() - t0) / 1000)} s.`,
          ],
        },
      ],
    );
    process.stdout.write(
      `${md}\nload average at start ${loadBefore.map(f2).join(' ')}, at end ${loadAverage().map(f2).join(' ')}; total ${f0((Date.now() - t0) / 1000)} s; written to ${RESULTS}\n`,
    );
  });
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench:propagation failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(WORK_DIR, { recursive: true, force: true }));
