/** Small statistics over request points: percentiles, grouped summaries, time bins. */
import type { RequestPoint } from './points.js';

/** Requests, failures by code and latency percentiles of a set of requests. */
export interface GroupStats {
  requests: number;
  failed: number;
  /** failed / requests (0 when there are no requests). */
  errorRate: number;
  /** Count of answers per error code (`none` = a success, `net_timeout` = no answer in time, ...), failures and successes. */
  codes: Record<string, number>;
  /** Count per HTTP status (0 = no answer). */
  statuses: Record<string, number>;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The q-quantile (0..1) of sorted values, nearest-rank; 0 for an empty list. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx] ?? 0;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** Summarises a set of requests. */
export function summarize(points: readonly RequestPoint[]): GroupStats {
  const ms = points.map((p) => p.ms).sort((a, b) => a - b);
  const codes: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  let failed = 0;
  for (const p of points) {
    if (p.failed) failed++;
    codes[p.code] = (codes[p.code] ?? 0) + 1;
    statuses[String(p.status)] = (statuses[String(p.status)] ?? 0) + 1;
  }
  return {
    requests: points.length,
    failed,
    errorRate: points.length ? failed / points.length : 0,
    codes,
    statuses,
    p50: round(quantile(ms, 0.5)),
    p95: round(quantile(ms, 0.95)),
    p99: round(quantile(ms, 0.99)),
    max: round(ms[ms.length - 1] ?? 0),
  };
}

/** Groups points by a key. */
export function groupBy<K extends string>(points: readonly RequestPoint[], key: (p: RequestPoint) => K): Map<K, RequestPoint[]> {
  const out = new Map<K, RequestPoint[]>();
  for (const p of points) {
    const k = key(p);
    const list = out.get(k);
    if (list) list.push(p);
    else out.set(k, [p]);
  }
  return out;
}

/** One time bin of a series. */
export interface Bin {
  /** Bin start, epoch ms. */
  t: number;
  requests: number;
  failed: number;
  errorRate: number;
  p95: number;
  p99: number;
}

/** Cuts points (by start time) into consecutive bins of `binMs` from `from` to `to`. */
export function bins(points: readonly RequestPoint[], from: number, to: number, binMs: number): Bin[] {
  const n = Math.max(0, Math.ceil((to - from) / binMs));
  const buckets: RequestPoint[][] = Array.from({ length: n }, () => []);
  for (const p of points) {
    const i = Math.floor((p.start - from) / binMs);
    if (i >= 0 && i < n) buckets[i]?.push(p);
  }
  return buckets.map((b, i) => {
    const s = summarize(b);
    return { t: from + i * binMs, requests: s.requests, failed: s.failed, errorRate: s.errorRate, p95: s.p95, p99: s.p99 };
  });
}
