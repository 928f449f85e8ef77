/**
 * Just enough of the Prometheus text format to judge a canary: request and error counts and a
 * latency histogram from a cell's /metrics, and the difference between two scrapes.
 */

/** One sample: metric name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus exposition text (comments skipped). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m?.[1] || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) if (l[1]) labels[l[1]] = (l[2] ?? '').replace(/\\(.)/g, '$1');
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The traffic figures of one scrape (or of the difference of two). */
export interface Traffic {
  requests: number;
  errors: number;
  /** Cumulative histogram: upper bound (s) → count. */
  buckets: Map<number, number>;
  /** Requests and 5xx answers per route (`POST /v1/orders`, …). */
  routes?: Map<string, { requests: number; errors: number }>;
}

function addRoute(t: Traffic, route: string, requests: number, errors: number): void {
  t.routes ??= new Map();
  const r = t.routes.get(route) ?? { requests: 0, errors: 0 };
  t.routes.set(route, { requests: r.requests + requests, errors: r.errors + errors });
}

/** Is this route user traffic (not admin, health or metrics)? */
const isUserRoute = (route: string | undefined) => route !== undefined && /(^|\s)\/v1\//.test(route);

/**
 * Reads cellsim's cell metrics: `cellsim_http_requests_total{route,status}` and
 * `cellsim_http_request_duration_seconds`; with `market`, the same of that market alone as a cell
 * counts a market moving by share (`cellsim_share_requests_total{market,...}`,
 * `cellsim_share_request_duration_seconds`).
 */
export function trafficOf(samples: Sample[], scope: { market?: string } = {}): Traffic {
  const t: Traffic = { requests: 0, errors: 0, buckets: new Map() };
  const prefix = scope.market === undefined ? 'cellsim_http_request' : 'cellsim_share_request';
  for (const s of samples) {
    if (scope.market !== undefined && s.labels.market !== scope.market) continue;
    if (s.name === `${prefix}s_total` && isUserRoute(s.labels.route)) {
      const error = Number(s.labels.status) >= 500 ? s.value : 0;
      t.requests += s.value;
      t.errors += error;
      addRoute(t, s.labels.route!, s.value, error);
    } else if (s.name === `${prefix}_duration_seconds_bucket` && isUserRoute(s.labels.route)) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      t.buckets.set(le, (t.buckets.get(le) ?? 0) + s.value);
    }
  }
  return t;
}

/** `after - before`, sample by sample (a restarted process counts from zero). */
export function diff(after: Traffic, before: Traffic): Traffic {
  const reset = after.requests < before.requests;
  const base = reset ? { requests: 0, errors: 0, buckets: new Map<number, number>() } : before;
  const buckets = new Map<number, number>();
  for (const [le, n] of after.buckets) buckets.set(le, n - (base.buckets.get(le) ?? 0));
  const out: Traffic = { requests: after.requests - base.requests, errors: after.errors - base.errors, buckets };
  for (const [route, r] of after.routes ?? []) {
    const b = base.routes?.get(route) ?? { requests: 0, errors: 0 };
    addRoute(out, route, r.requests - b.requests, r.errors - b.errors);
  }
  return out;
}

/** Adds traffic figures together. */
export function sum(list: Traffic[]): Traffic {
  const t: Traffic = { requests: 0, errors: 0, buckets: new Map() };
  for (const x of list) {
    t.requests += x.requests;
    t.errors += x.errors;
    for (const [le, n] of x.buckets) t.buckets.set(le, (t.buckets.get(le) ?? 0) + n);
    for (const [route, r] of x.routes ?? []) addRoute(t, route, r.requests, r.errors);
  }
  return t;
}

/** The q-quantile in ms from a cumulative histogram (upper bound of the bucket it falls in); null without data. */
export function quantileMs(t: Traffic, q: number): number | null {
  const bounds = [...t.buckets.keys()].sort((a, b) => a - b);
  const total = t.buckets.get(Infinity) ?? (bounds.length ? (t.buckets.get(bounds[bounds.length - 1]!) ?? 0) : 0);
  if (total <= 0) return null;
  const rank = q * total;
  for (const le of bounds) {
    if ((t.buckets.get(le) ?? 0) >= rank) return le === Infinity ? (bounds[bounds.length - 2] ?? 10) * 1000 : le * 1000;
  }
  return null;
}
