/**
 * Per-arm error rate and p99 of an A/B experiment (docs/experiments.md), from the planes' own
 * metrics: the routers' `cellsim_router_experiment_*{market, arm, color}` and the Envoys'
 * one-color clusters (`cell:<cell>:<color>`, whose only requests are the experiment's keyed ones)
 * on the admin `/stats/prometheus`. Counts since each process started, summed over instances.
 */
import { parsePrometheus, quantileMs, type Traffic } from './rollout/prom.js';

/** One arm's figures on one plane. */
export interface ArmStats {
  arm: 'variant' | 'control';
  color: string;
  requests: number;
  /** 5xx answers. */
  errors: number;
  errorPct: number | null;
  p99Ms: number | null;
}

/** What `experiment status` reports per plane. */
export interface ExperimentStats {
  router: ArmStats[];
  envoy: ArmStats[];
  /** Sources that did not answer. */
  unreachable: string[];
}

const empty = (): Traffic => ({ requests: 0, errors: 0, buckets: new Map() });

function add(t: Traffic, le: string | undefined, value: number, scale: number): void {
  const bound = le === '+Inf' ? Infinity : Number(le) / scale;
  t.buckets.set(bound, (t.buckets.get(bound) ?? 0) + value);
}

function figures(arm: 'variant' | 'control', color: string, t: Traffic): ArmStats {
  return {
    arm,
    color,
    requests: t.requests,
    errors: t.errors,
    errorPct: t.requests > 0 ? (100 * t.errors) / t.requests : null,
    p99Ms: quantileMs(t, 0.99),
  };
}

/** The arms of `market` in the routers' metrics texts. */
export function routerArms(texts: readonly string[], market: string, arms: { variant: string; control: string }): ArmStats[] {
  const by = { variant: empty(), control: empty() };
  for (const text of texts) {
    for (const s of parsePrometheus(text)) {
      if (s.labels.market !== market) continue;
      const t = by[s.labels.arm as 'variant' | 'control'];
      if (t === undefined) continue;
      if (s.name === 'cellsim_router_experiment_requests_total') {
        t.requests += s.value;
        if (Number(s.labels.status) >= 500) t.errors += s.value;
      } else if (s.name === 'cellsim_router_experiment_duration_seconds_bucket') add(t, s.labels.le, s.value, 1);
    }
  }
  return [figures('variant', arms.variant, by.variant), figures('control', arms.control, by.control)];
}

/** The arms of an experiment on `cell` in the Envoys' `/stats/prometheus` texts (the one-color clusters). */
export function envoyArms(texts: readonly string[], cell: string, arms: { variant: string; control: string }): ArmStats[] {
  const of = (color: string) => new Set([`cell:${cell}:${color}`, `cell_${cell}_${color}`]);
  const names = { variant: of(arms.variant), control: of(arms.control) };
  const by = { variant: empty(), control: empty() };
  for (const text of texts) {
    for (const s of parsePrometheus(text)) {
      const cluster = s.labels.envoy_cluster_name ?? '';
      const arm = names.variant.has(cluster) ? 'variant' : names.control.has(cluster) ? 'control' : undefined;
      if (arm === undefined) continue;
      const t = by[arm];
      if (s.name === 'envoy_cluster_upstream_rq_xx') {
        t.requests += s.value;
        if (s.labels.envoy_response_code_class === '5') t.errors += s.value;
      } else if (s.name === 'envoy_cluster_upstream_rq_time_bucket') add(t, s.labels.le, s.value, 1000);
    }
  }
  return [figures('variant', arms.variant, by.variant), figures('control', arms.control, by.control)];
}

/**
 * Scrapes `routers` (base URLs, `/metrics`) and `envoyAdmins` (admin base URLs,
 * `/stats/prometheus`), 2 s each, through `get`: under `cellctl up --tls` the routers answer
 * HTTPS, and `get` must trust the topology's CA (Node's global fetch does not).
 */
export async function experimentStats(
  o: { market: string; cell: string; variant: string; control: string },
  routers: readonly string[],
  envoyAdmins: readonly string[],
  get: (url: string, init?: RequestInit) => Promise<Response> = fetch,
): Promise<ExperimentStats> {
  const unreachable: string[] = [];
  const scrape = async (url: string) => {
    try {
      const res = await get(url, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) throw new Error(String(res.status));
      return await res.text();
    } catch {
      unreachable.push(url);
      return '';
    }
  };
  const [r, e] = await Promise.all([
    Promise.all(routers.map((u) => scrape(`${u.replace(/\/$/, '')}/metrics`))),
    Promise.all(envoyAdmins.map((u) => scrape(`${u.replace(/\/$/, '')}/stats/prometheus`))),
  ]);
  const arms = { variant: o.variant, control: o.control };
  return { router: routerArms(r, o.market, arms), envoy: envoyArms(e, o.cell, arms), unreachable };
}
