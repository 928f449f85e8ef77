/**
 * One measured vegeta attack on one plane of the bench stack: a warm-up, then a measured window
 * over which the plane's and the cell's CPU (from /proc) and every request vegeta made are
 * counted. vegeta runs pinned to one CPU with GOMAXPROCS=1; its own CPU comes from /usr/bin/time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTarget, startAttack, transportCode } from '../../infra/vegeta/index.js';
import { treeCpuMs } from './cpu.js';
import type { BenchStack } from './stack.js';

/** A way to the cell: straight to it, through the Node router, or through Envoy. */
export type Plane = 'direct' | 'router' | 'envoy';

/** How hard vegeta pushes: a fixed arrival rate, or as fast as a bounded worker pool goes. */
export type Pace = { rate: number } | { maxWorkers: number };

/** A request counts as sent late when vegeta started it this long after its slot. */
export const LATE_MS = 10;

/** What one attack measured; CPU and requests of the measured window unless said otherwise. */
export interface Measurement {
  plane: Plane;
  /** Requests started in the measured window. */
  requests: number;
  /** Of those, answered 2xx. */
  ok: number;
  failed: number;
  /** Failed requests by status and vegeta's error text (e.g. "503", "0 net_timeout"). */
  failures: Record<string, number>;
  /** Fixed rate only: started more than {@link LATE_MS} after their slot on vegeta's schedule. */
  late: number;
  /** Requests started per second in the window (first start of the window to the last). */
  sentPerSec: number;
  /** 2xx answers per second, from the window's start to the last answer. */
  okPerSec: number;
  p50: number;
  p99: number;
  /** Wall seconds between the two CPU samples. */
  cpuWindowSec: number;
  /** CPU ms of the plane's process tree (0 for direct). */
  planeCpuMs: number;
  cellCpuMs: number;
  /** vegeta's own CPU ms over the whole attack, warm-up included, and its requests. */
  vegetaCpuMs: number;
  vegetaRequests: number;
  vegetaWallSec: number;
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  pace: Pace;
  warmS: number;
  durationS: number;
  /** CPU list vegeta is pinned to. */
  vegetaCpus: string;
}

const sortedQuantile = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.max(0, Math.ceil(q * xs.length) - 1))] ?? 0;

/** The plane's URL and the pid whose process tree is the plane (none for direct). */
function planeOf(stack: BenchStack, plane: Plane): { url: string; pid?: number } {
  if (plane === 'router') return { url: stack.router.url, pid: stack.router.proc.pid };
  if (plane === 'envoy') return { url: stack.envoy.url, pid: stack.envoy.proc.pid };
  return { url: stack.cell.url };
}

/** Runs one attack (warm-up + measured window) of the same GET on one plane and measures it. */
export async function measure(stack: BenchStack, plane: Plane, o: MeasureOptions): Promise<Measurement> {
  const { url, pid } = planeOf(stack, plane);
  const dir = mkdtempSync(join(tmpdir(), 'cellsim-bench-vegeta-'));
  const targetsFile = join(dir, 'targets.json');
  writeFileSync(targetsFile, encodeTarget({ method: 'GET', url: `${url}${stack.path}`, header: { 'x-market-id': stack.market } }));
  const cpu = () => ({ at: Date.now(), plane: pid ? treeCpuMs(pid) : 0, cell: treeCpuMs(stack.cell.proc.pid) });
  const seen: { seq: number; start: number; end: number; ms: number; ok: boolean; kind: string }[] = [];
  const rate = 'rate' in o.pace ? o.pace.rate : 0;
  const maxWorkers = 'maxWorkers' in o.pace ? o.pace.maxWorkers : undefined;
  try {
    const attack = startAttack({
      targetsFile,
      rate,
      ...(maxWorkers ? { workers: maxWorkers, maxWorkers } : {}),
      durationMs: (o.warmS + o.durationS) * 1000,
      timeoutMs: 5000,
      resultsFile: join(dir, 'results.json'),
      cpus: o.vegetaCpus,
      maxProcs: 1,
      onResult: (r) => {
        const kind = `${r.code}${r.code === 0 ? ` ${transportCode(r)}` : ''}`;
        seen.push({ seq: r.seq, start: r.start, end: r.start + r.latencyMs, ms: r.latencyMs, ok: r.code >= 200 && r.code < 300, kind });
      },
    });
    let c0 = cpu();
    const warm = setTimeout(() => (c0 = cpu()), o.warmS * 1000);
    const done = await attack.done;
    clearTimeout(warm);
    const c1 = cpu();
    if (done.exitCode !== 0) throw new Error(`vegeta failed on ${plane} (exit ${done.exitCode}): ${done.output.slice(-800)}`);
    if (c0.at === c1.at || seen.length === 0) throw new Error(`vegeta on ${plane}: no measured window (${seen.length} results)`);
    const inWindow = seen.filter((r) => r.start >= c0.at);
    const ms = inWindow.map((r) => r.ms).sort((a, b) => a - b);
    const ok = inWindow.filter((r) => r.ok).length;
    const failures: Record<string, number> = {};
    for (const r of inWindow) if (!r.ok) failures[r.kind] = (failures[r.kind] ?? 0) + 1;
    // Sending is judged over the starts, answering over the ends (a slow tail stretches the latter).
    const lastStart = inWindow.reduce((a, r) => Math.max(a, r.start), c0.at);
    const lastEnd = inWindow.reduce((a, r) => Math.max(a, r.end), c0.at);
    const sendSec = Math.max(1e-3, (lastStart - c0.at) / 1000 + (rate > 0 ? 1 / rate : 0));
    const answerSec = Math.max(1e-3, (lastEnd - c0.at) / 1000);
    let late = 0;
    if (rate > 0) {
      // vegeta's schedule: hit `seq` is due `seq / rate` after hit 0.
      const first = seen.reduce((a, r) => (r.seq < a.seq ? r : a));
      late = inWindow.filter((r) => r.start - (first.start + ((r.seq - first.seq) * 1000) / rate) > LATE_MS).length;
    }
    return {
      plane,
      requests: inWindow.length,
      ok,
      failed: inWindow.length - ok,
      failures,
      late,
      sentPerSec: inWindow.length / sendSec,
      okPerSec: ok / answerSec,
      p50: sortedQuantile(ms, 0.5),
      p99: sortedQuantile(ms, 0.99),
      cpuWindowSec: (c1.at - c0.at) / 1000,
      planeCpuMs: c1.plane - c0.plane,
      cellCpuMs: c1.cell - c0.cell,
      vegetaCpuMs: done.cpuSec * 1000,
      vegetaRequests: done.results,
      vegetaWallSec: done.wallSec,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
