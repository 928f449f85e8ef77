/**
 * The traffic plan handed to loadtest/k6/traffic.js: which replicas to spread over, which
 * markets with which weights and owners, the operation mix, the arrival rate and k6 thresholds.
 * Written as one JSON file that the k6 script opens in its init context.
 */
import { writeFileSync } from 'node:fs';

/** A data-plane replica the load generator sends to. */
export interface Target {
  plane: Plane;
  replica: string;
  url: string;
  /** For a `direct` target: the one cell it is, so only that cell's markets go there. */
  cell?: string;
}

/** The data planes a drill can drive (`direct` is only used by the benchmark). */
export type Plane = 'router' | 'envoy' | 'direct';

/** A market with its expected owner and its share of the traffic (any positive number). */
export interface MarketWeight {
  id: string;
  cell: string;
  weight: number;
}

/** Everything traffic.js reads from CONFIG. */
export interface TrafficConfig {
  runId: string;
  targets: Target[];
  markets: MarketWeight[];
  mix: Record<'create' | 'get' | 'list' | 'cancel', number>;
  /** Arrivals per second (constant-arrival-rate), or the start rate with `stages`. */
  rate: number;
  duration: string;
  stages?: { target: number; duration: string }[];
  preAllocatedVUs: number;
  maxVUs: number;
  /** Per-request timeout, a k6 duration (`10s`). */
  timeout: string;
  /** Cells whose markets are tagged scope=faulted. */
  faultCells: string[];
  honourRetryAfter: boolean;
  maxRetryAfterS: number;
  replicaDownMs: number;
  thresholds: Record<string, string[]>;
}

/** The default operation mix: writes, read-backs, lists, occasional cancels. */
export const DEFAULT_MIX: TrafficConfig['mix'] = { create: 0.35, get: 0.3, list: 0.25, cancel: 0.1 };

/**
 * Uneven market weights, as real markets are: a Zipf-like curve (weight 1/(rank+1)^0.9) over the
 * markets in a stable order, so a few big markets carry much of the traffic.
 */
export function zipfWeights(owners: Record<string, string>, exponent = 0.9): MarketWeight[] {
  return Object.keys(owners)
    .sort()
    .map((id, rank) => ({ id, cell: owners[id] ?? '', weight: Number((1 / Math.pow(rank + 1, exponent)).toFixed(6)) }));
}

/** The markets of `owners` with the given weights (a market without one gets the smallest weight given). */
export function givenWeights(owners: Record<string, string>, weights: Record<string, number>): MarketWeight[] {
  const min = Math.min(...Object.values(weights));
  return Object.keys(owners)
    .sort()
    .map((id) => ({ id, cell: owners[id] ?? '', weight: weights[id] ?? min }));
}

/**
 * Raises one cell's markets so the cell carries at least `share` (0..1) of the traffic, keeping
 * the proportions inside and outside it. Used where a judgement needs volume (a canary bake).
 */
export function withMinShare(markets: MarketWeight[], cell: string, share: number): MarketWeight[] {
  const inside = markets.filter((m) => m.cell === cell).reduce((s, m) => s + m.weight, 0);
  const outside = markets.filter((m) => m.cell !== cell).reduce((s, m) => s + m.weight, 0);
  if (inside === 0 || outside === 0 || inside / (inside + outside) >= share) return markets;
  const factor = (share * outside) / ((1 - share) * inside);
  return markets.map((m) => (m.cell === cell ? { ...m, weight: Number((m.weight * factor).toFixed(6)) } : m));
}

/** Each cell's share of the traffic, from the market weights (0..1). */
export function cellShares(markets: MarketWeight[]): Record<string, number> {
  const total = markets.reduce((s, m) => s + m.weight, 0);
  const shares: Record<string, number> = {};
  for (const m of markets) shares[m.cell] = (shares[m.cell] ?? 0) + m.weight / total;
  return shares;
}

/** Builds a traffic config with defaults for everything not given. */
export function trafficConfig(
  p: Pick<TrafficConfig, 'runId' | 'targets' | 'markets' | 'rate' | 'duration'> & Partial<TrafficConfig>,
): TrafficConfig {
  if (p.targets.length === 0) throw new Error('traffic plan: no targets');
  if (p.markets.length === 0) throw new Error('traffic plan: no markets');
  const vus = Math.max(10, Math.ceil(p.rate * 0.5));
  return {
    mix: DEFAULT_MIX,
    preAllocatedVUs: vus,
    maxVUs: Math.max(50, p.rate * 4),
    timeout: '10s',
    faultCells: [],
    honourRetryAfter: true,
    maxRetryAfterS: 1,
    replicaDownMs: 2000,
    thresholds: {},
    ...p,
  };
}

/** Writes the config where k6 can open it. */
export function writeTrafficConfig(path: string, cfg: TrafficConfig): void {
  writeFileSync(path, JSON.stringify(cfg, null, 2));
}
