/**
 * `npm run bench:planes` (last of `npm run bench`): the same read of the same order from the same
 * cell, direct vs through the Node router vs through Envoy, first at fixed arrival rates, then at
 * maximum throughput (vegeta at rate 0 with a bounded worker pool) for the req/s each plane
 * carries per core. vegeta is pinned to the last CPU with GOMAXPROCS=1 and its own CPU is
 * reported. Prints the page and writes bench/planes.md (infra/harness/bench-results.ts).
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchCommand, loadAverage, writeResults } from '../../infra/harness/bench-results.js';
import { planeRow, planeSections, type BenchMeta, type PlaneRow } from './results.js';
import { LATE_MS, measure, type Measurement, type Plane } from './run.js';
import { startBenchStack } from './stack.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PLANES: readonly Plane[] = ['direct', 'router', 'envoy'];

/** The planes in round `r`'s order: rotated so no plane always runs first or after the heaviest. */
const rotated = (r: number) => PLANES.map((_, i) => PLANES[(i + r) % PLANES.length]!);

/** The failures of a run for the log ('' when none). */
const failures = (m: Measurement) => (m.failed ? `, ${m.failed} failed ${JSON.stringify(m.failures)}` : '');

/**
 * Settings of {@link benchPlanes}: the page's measuring settings (`repeats`: runs per plane and
 * rate, the least disturbed kept; `maxSeconds` 0 skips the maximum-throughput part), and more.
 */
export interface PlanesOptions extends Omit<BenchMeta, 'lateMs'> {
  rates: number[];
  out: string;
  command: string;
  log: (l: string) => void;
}

/** Runs the whole comparison; returns the markdown written to `out`. */
export async function benchPlanes(o: PlanesOptions): Promise<string> {
  const vegetaCpus = String(Math.max(0, cpus().length - 1));
  o.log(`starting the stack (cell, router, control plane, Envoy, Consul); vegeta pinned to CPU ${vegetaCpus}, GOMAXPROCS=1`);
  const loadBefore = loadAverage();
  const stack = await startBenchStack();
  const rows: PlaneRow[] = [];
  const maxRuns: Measurement[] = [];
  const base = { warmS: o.warmS, vegetaCpus };
  try {
    for (const rate of o.rates) {
      const best = new Map<Plane, PlaneRow>();
      for (let r = 0; r < o.repeats; r++) {
        for (const plane of rotated(r)) {
          const m = await measure(stack, plane, { ...base, pace: { rate }, durationS: o.durationS });
          const row = planeRow(rate, m);
          o.log(
            `${plane} at ${rate}/s (run ${r + 1}): ${row.achieved.toFixed(0)}/s, ${row.late} late, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms${failures(m)}`,
          );
          const kept = best.get(plane);
          if (!kept || row.p99 < kept.p99) best.set(plane, row);
        }
      }
      for (const plane of PLANES) rows.push(best.get(plane)!);
    }
    for (let r = 0; o.maxSeconds > 0 && r < o.maxRounds; r++) {
      for (const plane of rotated(r)) {
        const m = await measure(stack, plane, { ...base, pace: { maxWorkers: o.maxWorkers }, durationS: o.maxSeconds });
        maxRuns.push(m);
        const cores = m.planeCpuMs / 1000 / m.cpuWindowSec;
        o.log(
          `${plane} at maximum (round ${r + 1}): ${m.okPerSec.toFixed(0)} req/s, plane ${cores.toFixed(2)} cores, cell ${(m.cellCpuMs / 1000 / m.cpuWindowSec).toFixed(2)} cores${failures(m)}`,
        );
      }
    }
  } finally {
    await stack.close();
  }
  return writeResults(
    o.out,
    {
      title: 'Data planes side by side',
      command: o.command,
      loadBefore,
      settings:
        `vegeta 12, pinned to CPU ${vegetaCpus} with GOMAXPROCS=1; fixed rates ${o.rates.join(', ')}/s (-rate=N/1s), ${o.warmS} s warm-up + ${o.durationS} s measured, best of ${o.repeats}; ` +
        (o.maxSeconds > 0
          ? `maximum throughput -rate=0 -max-workers=${o.maxWorkers}, ${o.warmS} s warm-up + ${o.maxSeconds} s measured, ${o.maxRounds} round(s)`
          : 'maximum throughput not measured'),
      about: [
        `The same \`GET /v1/orders/:id\` of one order in one cell, straight to the cell (direct), through the Node router (one worker) and through Envoy (one worker thread, \`--concurrency 1\`, configured by the xDS control plane). vegeta 12 is the load generator, pinned to CPU ${vegetaCpus} with GOMAXPROCS=1; its own CPU comes from /usr/bin/time, the planes' and the cell's from /proc/<pid>/stat (user+system of the process tree).`,
      ],
    },
    planeSections(rows, maxRuns, {
      warmS: o.warmS,
      durationS: o.durationS,
      repeats: o.repeats,
      maxSeconds: o.maxSeconds,
      maxRounds: o.maxRounds,
      maxWorkers: o.maxWorkers,
      lateMs: LATE_MS,
    }),
  );
}

async function main(): Promise<void> {
  const num = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
  const rates = (process.env.CELLSIM_BENCH_RATES ?? '200,500,1000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const out = join(ROOT, 'bench', 'planes.md');
  const md = await benchPlanes({
    rates,
    warmS: num('CELLSIM_BENCH_WARM_SECONDS', 2),
    durationS: num('CELLSIM_BENCH_SECONDS', 10),
    repeats: Math.max(1, num('CELLSIM_BENCH_REPEAT', 2)),
    maxSeconds: num('CELLSIM_BENCH_MAX_SECONDS', 10),
    maxRounds: Math.max(1, num('CELLSIM_BENCH_MAX_ROUNDS', 3)),
    maxWorkers: Math.max(1, num('CELLSIM_BENCH_MAX_WORKERS', 48)),
    out,
    command: benchCommand('bench:planes'),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${md}\nwritten to ${out}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:planes: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
