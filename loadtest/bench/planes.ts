/**
 * The side-by-side benchmark (`npm run bench`, after the parts' own benchmarks): the same read
 * of the same order from the same cell, direct vs through the Node router vs through Envoy, at
 * the same fixed arrival rates. k6 is pinned to one CPU with GOMAXPROCS=1 and its own CPU is
 * reported. Prints one table and writes bench/results.md.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { K6_DIR, startK6 } from '../k6-run.js';
import { treeCpuMs } from './cpu.js';
import { renderMarkdown, type PlaneRow } from './results.js';
import { startBenchStack, type BenchStack } from './stack.js';

/** The 1-minute load average (the machine is shared: the table says how busy it was). */
function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '?';
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Metric {
  count?: number;
  rate?: number;
  med?: number;
  'p(99)'?: number;
  value?: number;
}

async function runOne(stack: BenchStack, plane: PlaneRow['plane'], rate: number, durationS: number, k6Cpu: string): Promise<PlaneRow> {
  const url = plane === 'direct' ? stack.cell.url : plane === 'router' ? stack.router.url : stack.envoy.url;
  const planePid = plane === 'router' ? stack.router.proc.pid : plane === 'envoy' ? stack.envoy.proc.pid : undefined;
  const outDir = mkdtempSync(join(tmpdir(), 'cellsim-bench-k6-'));
  const cpu0 = { plane: planePid ? treeCpuMs(planePid) : 0, cell: treeCpuMs(stack.cell.proc.pid) };
  const run = startK6({
    script: join(K6_DIR, 'bench.js'),
    outDir,
    points: false,
    cpus: k6Cpu,
    maxProcs: 1,
    env: { URL: url, REQ_PATH: stack.path, MARKET: stack.market, RATE: String(rate), DURATION: `${durationS}s`, PLANE: plane },
  });
  // Sample k6's own CPU just before it exits (its /proc entry is gone afterwards).
  let k6CpuMs = 0;
  const sampler = setInterval(() => {
    const v = treeCpuMs(run.pid);
    if (v > 0) k6CpuMs = v;
  }, 200);
  const done = await run.done;
  clearInterval(sampler);
  const cpu1 = { plane: planePid ? treeCpuMs(planePid) : 0, cell: treeCpuMs(stack.cell.proc.pid) };
  if (done.exitCode !== 0) throw new Error(`k6 failed on ${plane} at ${rate}/s (exit ${done.exitCode}): ${done.output.slice(-800)}`);
  const summary = JSON.parse(readFileSync(run.summaryFile, 'utf8')) as { metrics: Record<string, Metric> };
  const m = (name: string) => summary.metrics[name] ?? {};
  const total = m('http_reqs').count ?? 0;
  const measured = m('http_reqs{phase:measure}').count ?? 0;
  const per1k = (ms: number) => (total ? (ms / total) * 1000 : 0);
  return {
    rate,
    plane,
    achieved: measured / durationS,
    failedRate: m('http_req_failed{phase:measure}').value ?? m('http_req_failed{phase:measure}').rate ?? 0,
    dropped: m('dropped_iterations').count ?? 0,
    p50: m('http_req_duration{phase:measure}').med ?? 0,
    p99: m('http_req_duration{phase:measure}')['p(99)'] ?? 0,
    planeCpuPer1k: per1k(cpu1.plane - cpu0.plane),
    cellCpuPer1k: per1k(cpu1.cell - cpu0.cell),
    k6CpuPer1k: per1k(k6CpuMs),
  };
}

/** Runs the whole comparison; returns the markdown written to bench/results.md. */
export async function benchPlanes(opts: {
  rates: number[];
  durationS: number;
  /** Runs per plane and rate; the least disturbed (lowest p99) is kept. */
  repeats: number;
  out: string;
  log: (l: string) => void;
}): Promise<string> {
  const k6Cpu = String(Math.max(0, cpus().length - 1));
  opts.log(`starting the stack (cell, router, control plane, Envoy, Consul); k6 pinned to CPU ${k6Cpu}, GOMAXPROCS=1`);
  const stack = await startBenchStack();
  const rows: PlaneRow[] = [];
  const load0 = loadAverage();
  try {
    for (const rate of opts.rates) {
      const best = new Map<PlaneRow['plane'], PlaneRow>();
      for (let r = 0; r < opts.repeats; r++) {
        // Rotate the order so no plane always runs first (or right after the heaviest one).
        const planes = (['direct', 'router', 'envoy'] as const).map((_, i, a) => a[(i + r) % a.length]!);
        for (const plane of planes) {
          const row = await runOne(stack, plane, rate, opts.durationS, k6Cpu);
          opts.log(
            `${plane} at ${rate}/s (run ${r + 1}): ${row.achieved.toFixed(0)}/s, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms`,
          );
          const kept = best.get(plane);
          if (!kept || row.p99 < kept.p99) best.set(plane, row);
        }
      }
      for (const plane of ['direct', 'router', 'envoy'] as const) rows.push(best.get(plane)!);
    }
  } finally {
    await stack.close();
  }
  const load1 = loadAverage();
  const md = renderMarkdown(rows, {
    command: 'npm run bench',
    date: new Date().toISOString().slice(0, 10),
    cpus: cpus().length,
    k6Cpu,
    durationS: opts.durationS,
    repeats: opts.repeats,
    load: `${load0} before, ${load1} after`,
  });
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, md);
  return md;
}

async function main(): Promise<void> {
  const rates = (process.env.CELLSIM_BENCH_RATES ?? '200,500,1000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const durationS = Number(process.env.CELLSIM_BENCH_SECONDS ?? 10);
  const out = join(ROOT, 'bench', 'results.md');
  const repeats = Math.max(1, Number(process.env.CELLSIM_BENCH_REPEAT ?? 2));
  const md = await benchPlanes({ rates, durationS, repeats, out, log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${md}\nwritten to ${out}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
