/**
 * The canary verdict: a wave's cells against the other cells as baseline, over the same window.
 * Breach when the wave's error rate is over the baseline by more than `maxErrorRateDelta`, or
 * one route's is (a route with `minRouteErrors` 5xx answers or more: a defect in one route, say
 * 20 % failed creates, is diluted below the threshold in the rate of all routes), or
 * its p99 is over both `p99Factor` × baseline and baseline + `p99SlackMs`. Too little traffic
 * to judge is not a breach (the verdict says so). With fewer than 100 requests the "p99" is taken
 * at the second-slowest request ({@link latencyQuantile}): one slow request alone (a fresh
 * process's first request, a lock wait) is no latency breach, two are.
 */
import type { WaveVerdict } from '../../shared/kv.js';
import { quantileMs, type Traffic } from './prom.js';

/** SLO thresholds. */
export interface SloOptions {
  maxErrorRateDelta: number;
  p99Factor: number;
  p99SlackMs: number;
  /** Fewer requests than this in the window: no judgement yet. */
  minRequests: number;
  /** A route is judged on its own from this many 5xx answers in the window. */
  minRouteErrors: number;
}

/** Defaults: +2 points of errors, or p99 over 2× and +100 ms. */
export const DEFAULT_SLO: SloOptions = { maxErrorRateDelta: 0.02, p99Factor: 2, p99SlackMs: 100, minRequests: 20, minRouteErrors: 2 };

const rate = (t: Traffic) => (t.requests > 0 ? t.errors / t.requests : 0);

/** The latency quantile judged for `n` requests: p99, but never above the second-slowest request. */
export function latencyQuantile(n: number): number {
  return n > 1 ? Math.min(0.99, 1 - 1 / n) : 0.99;
}

/** Judges a window; `pass: false` is a breach. */
export function judge(wave: Traffic, baseline: Traffic, slo: SloOptions = DEFAULT_SLO): WaveVerdict {
  const errorRate = rate(wave);
  const p99Ms = quantileMs(wave, latencyQuantile(wave.requests));
  const base = { requests: baseline.requests, errorRate: rate(baseline), p99Ms: quantileMs(baseline, latencyQuantile(baseline.requests)) };
  const at = new Date().toISOString();
  const v = (pass: boolean, reason: string): WaveVerdict => ({
    pass,
    reason,
    requests: wave.requests,
    errorRate,
    p99Ms,
    baseline: base,
    at,
  });
  if (wave.requests < slo.minRequests) return v(true, `inconclusive: ${wave.requests} requests (< ${slo.minRequests}) in the window`);
  if (errorRate > base.errorRate + slo.maxErrorRateDelta) {
    return v(false, `error rate ${pct(errorRate)} vs baseline ${pct(base.errorRate)} (allowed +${pct(slo.maxErrorRateDelta)})`);
  }
  for (const [route, r] of wave.routes ?? []) {
    if (r.errors < slo.minRouteErrors) continue;
    const b = baseline.routes?.get(route);
    const baseRate = b && b.requests > 0 ? b.errors / b.requests : 0;
    if (r.errors / r.requests > baseRate + slo.maxErrorRateDelta) {
      return v(
        false,
        `${route}: error rate ${pct(r.errors / r.requests)} (${r.errors} of ${r.requests}) vs baseline ${pct(baseRate)} (allowed +${pct(slo.maxErrorRateDelta)})`,
      );
    }
  }
  if (p99Ms !== null) {
    const limit = Math.max((base.p99Ms ?? 0) * slo.p99Factor, (base.p99Ms ?? 0) + slo.p99SlackMs);
    if (p99Ms > limit) return v(false, `p99 ${p99Ms} ms vs baseline ${base.p99Ms ?? '-'} ms (limit ${Math.round(limit)} ms)`);
  }
  return v(
    true,
    `error rate ${pct(errorRate)} (baseline ${pct(base.errorRate)}), p99 ${p99Ms ?? '-'} ms (baseline ${base.p99Ms ?? '-'} ms)`,
  );
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}
