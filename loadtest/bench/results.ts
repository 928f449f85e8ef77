/**
 * The tables of bench/planes.md: one row per plane and fixed rate (added latency against direct,
 * ratios router/Envoy), and the maximum-throughput rounds of each plane with req/s per plane core.
 * The page itself (header, load averages) is written by infra/harness/bench-results.ts.
 */
import type { ResultsSection } from '../../infra/harness/bench-results.js';
import type { Measurement, Plane } from './run.js';

/** One measured cell of the fixed-rate comparison. */
export interface PlaneRow {
  rate: number;
  plane: Plane;
  /** Requests per second vegeta started in the measured window. */
  achieved: number;
  failedRate: number;
  /** Requests vegeta started more than LATE_MS after their slot (the generator or the plane fell behind). */
  late: number;
  p50: number;
  p99: number;
  /** CPU ms of the plane's process tree per 1,000 requests (0 for direct). */
  planeCpuPer1k: number;
  cellCpuPer1k: number;
  vegetaCpuPer1k: number;
}

/** What the tables' notes say about how they were measured. */
export interface BenchMeta {
  warmS: number;
  durationS: number;
  repeats: number;
  maxSeconds: number;
  maxRounds: number;
  maxWorkers: number;
  lateMs: number;
}

/** The fixed-rate row of a measurement at `rate`. */
export function planeRow(rate: number, m: Measurement): PlaneRow {
  const per1k = (ms: number, n: number) => (n ? (ms / n) * 1000 : 0);
  return {
    rate,
    plane: m.plane,
    achieved: m.sentPerSec,
    failedRate: m.requests ? m.failed / m.requests : 0,
    late: m.late,
    p50: m.p50,
    p99: m.p99,
    planeCpuPer1k: per1k(m.planeCpuMs, m.requests),
    cellCpuPer1k: per1k(m.cellCpuMs, m.requests),
    vegetaCpuPer1k: per1k(m.vegetaCpuMs, m.vegetaRequests),
  };
}

const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : '-');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Plane cores used, req/s per plane core and the other figures of one max-throughput round. */
function perCore(m: Measurement) {
  const cores = (ms: number) => ms / 1000 / m.cpuWindowSec;
  return {
    okPerSec: m.okPerSec,
    planeCores: cores(m.planeCpuMs),
    cellCores: cores(m.cellCpuMs),
    vegetaCores: m.vegetaWallSec > 0 ? m.vegetaCpuMs / 1000 / m.vegetaWallSec : Number.NaN,
    // Requests answered per CPU-second of the plane = req/s per fully used core.
    perPlaneCore: m.planeCpuMs > 0 ? m.ok / (m.planeCpuMs / 1000) : Number.NaN,
    failed: m.failed,
    p50: m.p50,
    p99: m.p99,
  };
}

/** The fixed-rate tables: every plane at every rate, then the router/Envoy ratios per rate. */
function fixedRateSections(rows: PlaneRow[], meta: BenchMeta): ResultsSection[] {
  const table: string[][] = [];
  const ratios: string[][] = [];
  for (const rate of [...new Set(rows.map((r) => r.rate))]) {
    const at = rows.filter((r) => r.rate === rate);
    const direct = at.find((r) => r.plane === 'direct');
    for (const r of at) {
      const added = (x: number, y: number | undefined) => (r.plane === 'direct' || y === undefined ? '-' : f(x - y));
      table.push([
        String(rate),
        r.plane,
        f(r.achieved, 0),
        `${f(r.failedRate * 100, 2)}%`,
        String(r.late),
        f(r.p50),
        f(r.p99),
        added(r.p50, direct?.p50),
        added(r.p99, direct?.p99),
        r.plane === 'direct' ? '-' : f(r.planeCpuPer1k, 0),
        f(r.cellCpuPer1k, 0),
        f(r.vegetaCpuPer1k, 0),
      ]);
    }
    const router = at.find((r) => r.plane === 'router');
    const envoy = at.find((r) => r.plane === 'envoy');
    if (router && envoy && direct) {
      ratios.push([
        String(rate),
        ratio(router.p50 - direct.p50, envoy.p50 - direct.p50),
        ratio(router.p99 - direct.p99, envoy.p99 - direct.p99),
        ratio(router.planeCpuPer1k, envoy.planeCpuPer1k),
      ]);
    }
  }
  const head = [
    'rate/s',
    'plane',
    'achieved/s',
    'failed',
    'sent late',
    'p50 ms',
    'p99 ms',
    'added p50 ms',
    'added p99 ms',
    'plane CPU ms/1k req',
    'cell CPU ms/1k req',
    'vegeta CPU ms/1k req',
  ];
  const notes = [
    `\`vegeta attack -rate=N/1s\` for ${meta.warmS} s of warm-up then ${meta.durationS} s measured per row; best (lowest p99) of ${meta.repeats} runs per row, planes in rotating order. "achieved" is requests started per second in the measured window; "sent late" counts requests vegeta started more than ${meta.lateMs} ms after their slot on its schedule (the generator, or a plane holding all its workers, fell behind). "added" is the plane's latency minus direct at the same rate. CPU per 1,000 requests: planes and cell over the measured window, vegeta over its whole run.`,
  ];
  const ratioHead = ['rate/s', 'added p50 router/Envoy', 'added p99 router/Envoy', 'CPU/1k router/Envoy'];
  return ratios.length
    ? [
        { title: 'Fixed arrival rates', head, rows: table },
        { head: ratioHead, rows: ratios, notes },
      ]
    : [{ title: 'Fixed arrival rates', head, rows: table, notes }];
}

/** The maximum-throughput tables: medians over the rounds of each plane, then the router/Envoy ratios. */
function maxSections(rounds: Measurement[], meta: BenchMeta): ResultsSection[] {
  const table: string[][] = [];
  const med = new Map<Plane, ReturnType<typeof perCore>>();
  for (const plane of ['direct', 'router', 'envoy'] as const) {
    const runs = rounds.filter((m) => m.plane === plane).map(perCore);
    if (!runs.length) continue;
    const m = (k: keyof ReturnType<typeof perCore>) => median(runs.map((r) => r[k]));
    const row = {
      okPerSec: m('okPerSec'),
      planeCores: m('planeCores'),
      cellCores: m('cellCores'),
      vegetaCores: m('vegetaCores'),
      perPlaneCore: m('perPlaneCore'),
      failed: runs.reduce((a, r) => a + r.failed, 0),
      p50: m('p50'),
      p99: m('p99'),
    };
    med.set(plane, row);
    const direct = plane === 'direct';
    table.push([
      plane,
      f(row.okPerSec, 0),
      direct ? '-' : f(row.planeCores),
      direct ? '-' : f(row.perPlaneCore, 0),
      direct ? '-' : runs.map((r) => f(r.perPlaneCore, 0)).join(', '),
      f(row.cellCores),
      f(row.vegetaCores),
      String(row.failed),
      f(row.p50),
      f(row.p99),
    ]);
  }
  const head = [
    'plane',
    'answered req/s',
    'plane cores used',
    'req/s per plane core',
    'per-core of each round',
    'cell cores used',
    'vegeta cores used',
    'failed',
    'p50 ms',
    'p99 ms',
  ];
  const notes = [
    `\`vegeta attack -rate=0 -max-workers=${meta.maxWorkers}\` (as fast as ${meta.maxWorkers} workers go) for ${meta.warmS} s of warm-up then ${meta.maxSeconds} s measured, per plane, ${meta.maxRounds} interleaved round(s) in rotating order; medians over the rounds. "plane cores used" is the plane's CPU seconds per wall second; "req/s per plane core" is 2xx answers per CPU-second of the plane, what one fully used core would carry. Direct shows the ceiling of the cell itself. Only vegeta is pinned: the plane, the cell and the rest share the machine's cores, so a plane using less than one core was held back by the cell, the generator or the machine, not by itself, and its per-core figure is the cost of a request at that load.`,
  ];
  const router = med.get('router');
  const envoy = med.get('envoy');
  const title = 'Maximum throughput per core';
  if (!router || !envoy) return [{ title, head, rows: table, notes }];
  return [
    { title, head, rows: table },
    {
      head: ['router/Envoy', 'answered req/s', 'req/s per plane core'],
      rows: [['ratio', ratio(router.okPerSec, envoy.okPerSec), ratio(router.perPlaneCore, envoy.perPlaneCore)]],
      notes,
    },
  ];
}

/** The tables of bench/planes.md with their notes: fixed rates, then maximum throughput (when measured). */
export function planeSections(rows: PlaneRow[], maxRounds: Measurement[], meta: BenchMeta): ResultsSection[] {
  return [...fixedRateSections(rows, meta), ...(maxRounds.length ? maxSections(maxRounds, meta) : [])];
}
