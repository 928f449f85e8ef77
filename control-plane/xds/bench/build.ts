/**
 * The snapshot build per change without Consul or Envoy: `node --import tsx
 * control-plane/xds/bench/build.ts [sizes...]` (default 1000 10000 100000). Each size runs in
 * its own process (a fresh heap): a full build of n markets, WARM moves, then MOVES measured
 * moves (the same deterministic markets at every size; bench/build-rig.ts), each timed as
 * `cellsim_xds_snapshot_build_seconds` times it (Publisher.update: build, snapshot,
 * consistency check, cache). Also prints the Map/Set entries visited per move, which does
 * not depend on the machine: flat means the same count at every size. Prints a table; writes
 * no results file (bench:xds measures the build inside the real control plane).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { BuildRig } from './build-rig.js';
import { countVisits } from './visits.js';

const MOVES = Number(process.env.BENCH_MOVES ?? 2000);
const WARM = Number(process.env.BENCH_WARM ?? 500);
/** Moves whose visited entries are counted (counting slows a move down, so these are not timed). */
const COUNTED = 50;

interface SizeFigures {
  markets: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  entriesPerMove: number;
  largest: number;
}

function measure(n: number): SizeFigures {
  const rig = new BuildRig(n);
  for (let k = 0; k < WARM; k++) rig.publish(rig.nextMove());
  const times: number[] = [];
  for (let k = 0; k < MOVES; k++) {
    const input = rig.nextMove();
    const t0 = performance.now();
    rig.publish(input);
    times.push(performance.now() - t0);
  }
  let entries = 0;
  let largest = 0;
  for (let k = 0; k < COUNTED; k++) {
    const input = rig.nextMove();
    const { visits } = countVisits(() => rig.publish(input));
    entries += visits.entries;
    largest = Math.max(largest, visits.largest);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    markets: n,
    meanMs: times.reduce((a, b) => a + b, 0) / times.length,
    p50Ms: sorted[Math.floor(sorted.length * 0.5)]!,
    p99Ms: sorted[Math.floor(sorted.length * 0.99)]!,
    entriesPerMove: entries / COUNTED,
    largest,
  };
}

const self = fileURLToPath(import.meta.url);
if (process.argv[2] === '--one') {
  process.stdout.write(`${JSON.stringify(measure(Number(process.argv[3])))}\n`);
} else {
  const sizes = process.argv.slice(2).map(Number);
  const figures = (sizes.length ? sizes : [1000, 10_000, 100_000]).map(
    (n) =>
      JSON.parse(
        execFileSync(process.execPath, ['--import', 'tsx', self, '--one', String(n)], {
          encoding: 'utf8',
          env: { ...process.env, CELLSIM_LOG_LEVEL: 'warn' },
          stdio: ['ignore', 'pipe', 'inherit'],
        }),
      ) as SizeFigures,
  );
  const table = new Table({
    head: ['markets', 'build per move mean / p50 / p99 (ms)', 'Map/Set entries visited per move', 'largest walked'],
  });
  for (const f of figures)
    table.push([
      f.markets.toLocaleString('en'),
      `${f.meanMs.toFixed(3)} / ${f.p50Ms.toFixed(3)} / ${f.p99Ms.toFixed(3)}`,
      f.entriesPerMove.toFixed(1),
      f.largest,
    ]);
  process.stdout.write(`snapshot build per change, ${MOVES} moves after ${WARM} warm-up, 1 node\n${table.toString()}\n`);
}
