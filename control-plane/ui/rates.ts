/**
 * Live traffic per data plane for the console (docs/console.md §Traffic): each poll scrapes
 * every router's `/metrics` (`cellsim_router_*`) and every Envoy's admin
 * `/stats/prometheus` (the `edge` listener's downstream counters and histogram, and each cell
 * cluster's upstream counters), and turns the difference from the previous scrape into request
 * rate, 5xx share and p99 per plane, with per-cell rates. The last 120 points per plane are kept
 * for the charts.
 */
import { parsePrometheus, quantileMs, type Sample, type Traffic } from '../rollout/prom.js';

/** One point of a plane's series. */
export interface RatePoint {
  /** Unix ms. */
  t: number;
  rps: number;
  /** 5xx answers, % of all. */
  errorPct: number;
  p99Ms: number | null;
}

/** A plane's live figures. */
export interface PlaneRates {
  plane: 'router' | 'envoy';
  /** Instances scraped, and how many answered. */
  targets: number;
  answered: number;
  last?: RatePoint;
  /** Requests per second per cell over the last interval. */
  byCell: Record<string, number>;
  series: RatePoint[];
}

/** What one scrape of one instance gives. */
interface Counts {
  total: Traffic;
  byCell: Map<string, number>;
}

/** A router's counters: every request by cell and status, the duration histogram (s). */
export function routerCounts(samples: Sample[]): Counts {
  const total: Traffic = { requests: 0, errors: 0, buckets: new Map() };
  const byCell = new Map<string, number>();
  for (const s of samples) {
    if (s.name === 'cellsim_router_requests_total') {
      total.requests += s.value;
      if (Number(s.labels.status) >= 500) total.errors += s.value;
      const cell = s.labels.cell ?? '-';
      byCell.set(cell, (byCell.get(cell) ?? 0) + s.value);
    } else if (s.name === 'cellsim_router_request_duration_seconds_bucket') {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      total.buckets.set(le, (total.buckets.get(le) ?? 0) + s.value);
    }
  }
  return { total, byCell };
}

/**
 * An Envoy's counters: the `edge` listener's downstream requests, 5xx and time (ms), and each cell's
 * upstream requests (its `cell:<id>` cluster, its experiments' one-color clusters and its shift's).
 */
export function envoyCounts(samples: Sample[]): Counts {
  const total: Traffic = { requests: 0, errors: 0, buckets: new Map() };
  const byCell = new Map<string, number>();
  for (const s of samples) {
    const edge = s.labels.envoy_http_conn_manager_prefix === 'edge';
    if (edge && s.name === 'envoy_http_downstream_rq_xx') {
      total.requests += s.value;
      if (s.labels.envoy_response_code_class === '5') total.errors += s.value;
    } else if (edge && s.name === 'envoy_http_downstream_rq_time_bucket') {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le) / 1000;
      total.buckets.set(le, (total.buckets.get(le) ?? 0) + s.value);
    } else if (s.name === 'envoy_cluster_upstream_rq_total') {
      // `cell:<id>`, an experiment's one-color `cell:<id>:<color>` or a shift's `cell:<id>:shift:<color>`
      // (each counted to its cell); Envoy writes `:` as `_`.
      const m = /^cell[:_]([a-z0-9-]+)(?:[:_](?:shift[:_])?(?:blue|green))?$/.exec(s.labels.envoy_cluster_name ?? '');
      if (m?.[1]) byCell.set(m[1], (byCell.get(m[1]) ?? 0) + s.value);
    }
  }
  return { total, byCell };
}

const SERIES_MAX = 120;

/** Scrapes one plane's instances and keeps its series. */
export class PlaneScraper {
  private readonly prev = new Map<string, { at: number; counts: Counts }>();
  private readonly series: RatePoint[] = [];

  constructor(
    readonly plane: 'router' | 'envoy',
    private readonly fetchText: (url: string) => Promise<string> = scrape,
  ) {}

  /** Scrapes `urls` now and returns the plane's figures since the previous scrape. */
  async sample(urls: string[], now = Date.now()): Promise<PlaneRates> {
    const texts = await Promise.all(urls.map((u) => this.fetchText(u).catch(() => undefined)));
    const sum: Traffic = { requests: 0, errors: 0, buckets: new Map() };
    const byCell: Record<string, number> = {};
    let seconds = 0;
    let answered = 0;
    for (const [i, url] of urls.entries()) {
      const text = texts[i];
      if (text === undefined) continue;
      answered++;
      const samples = parsePrometheus(text);
      const counts = this.plane === 'router' ? routerCounts(samples) : envoyCounts(samples);
      const before = this.prev.get(url);
      this.prev.set(url, { at: now, counts });
      if (!before || counts.total.requests < before.counts.total.requests) continue; // first scrape, or a restart
      const dt = (now - before.at) / 1000;
      if (dt <= 0) continue;
      seconds = Math.max(seconds, dt);
      sum.requests += counts.total.requests - before.counts.total.requests;
      sum.errors += counts.total.errors - before.counts.total.errors;
      for (const [le, n] of counts.total.buckets)
        sum.buckets.set(le, (sum.buckets.get(le) ?? 0) + n - (before.counts.total.buckets.get(le) ?? 0));
      for (const [cell, n] of counts.byCell) byCell[cell] = (byCell[cell] ?? 0) + (n - (before.counts.byCell.get(cell) ?? 0)) / dt;
    }
    let last: RatePoint | undefined;
    if (seconds > 0) {
      last = {
        t: now,
        rps: sum.requests / seconds,
        errorPct: sum.requests ? (100 * sum.errors) / sum.requests : 0,
        p99Ms: quantileMs(sum, 0.99),
      };
      this.series.push(last);
      if (this.series.length > SERIES_MAX) this.series.shift();
    }
    return { plane: this.plane, targets: urls.length, answered, last, byCell, series: [...this.series] };
  }
}

/** GET `url` with a 1 s timeout. */
async function scrape(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.text();
}
