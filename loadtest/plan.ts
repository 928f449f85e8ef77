/**
 * The traffic plan of a drill: which replicas to spread over, which markets with which weights
 * and owners, the operation mix and the arrival rate. The engine writes it next to the report
 * (traffic-config.json) and hands it to the traffic model.
 */

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

/** Everything the traffic model (loadtest/traffic/) is driven by. */
export interface TrafficConfig {
  runId: string;
  targets: Target[];
  markets: MarketWeight[];
  mix: Record<'create' | 'get' | 'list' | 'cancel', number>;
  /** Requests per second (open model: vegeta's constant pacer). Read-backs, retries and failovers are requests too. */
  rate: number;
  /** Per-request timeout, ms. */
  timeoutMs: number;
  /** Cells whose markets are tagged scope=faulted. */
  faultCells: string[];
  /** Send a `503 market_migrating` again after its Retry-After (counted as a retry in the report). */
  honourRetryAfter: boolean;
  maxRetryAfterS: number;
  /** Most retries of one request. */
  maxRetries: number;
  /** How long a replica that refused a connection is avoided. */
  replicaDownMs: number;
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

/**
 * Raises every cell carrying less than `share` (0..1) of the traffic to that share, its markets
 * keeping their proportions; the other cells give it up in proportion to theirs. Used so that
 * every cell has requests to judge (a cell with none fails its verdicts as "no data").
 */
export function withCellFloor(markets: MarketWeight[], share: number): MarketWeight[] {
  const before = cellShares(markets);
  const cells = Object.keys(before);
  if (cells.length === 0 || share * cells.length > 1) return markets;
  const after = { ...before };
  const raised = new Set<string>();
  // Raising one cell lowers the others, which may take another under the floor: repeat until none is.
  for (;;) {
    const low = cells.filter((c) => !raised.has(c) && (after[c] ?? 0) < share);
    if (low.length === 0) break;
    for (const c of low) raised.add(c);
    const rest = cells.filter((c) => !raised.has(c));
    const restTotal = rest.reduce((t, c) => t + (before[c] ?? 0), 0);
    const left = 1 - share * raised.size;
    for (const c of raised) after[c] = share;
    for (const c of rest) after[c] = ((before[c] ?? 0) / restTotal) * left;
  }
  if (raised.size === 0) return markets;
  return markets.map((m) => ({ ...m, weight: Number((m.weight * ((after[m.cell] ?? 0) / (before[m.cell] ?? 1))).toFixed(6)) }));
}

/** Each cell's share of the traffic, from the market weights (0..1). */
export function cellShares(markets: MarketWeight[]): Record<string, number> {
  const total = markets.reduce((s, m) => s + m.weight, 0);
  const shares: Record<string, number> = {};
  for (const m of markets) shares[m.cell] = (shares[m.cell] ?? 0) + m.weight / total;
  return shares;
}

/** Builds a traffic config with defaults for everything not given. */
export function trafficConfig(p: Pick<TrafficConfig, 'runId' | 'targets' | 'markets' | 'rate'> & Partial<TrafficConfig>): TrafficConfig {
  if (p.targets.length === 0) throw new Error('traffic plan: no targets');
  if (p.markets.length === 0) throw new Error('traffic plan: no markets');
  if (!Number.isInteger(p.rate) || p.rate < 1) throw new Error(`traffic plan: rate must be a positive integer, got ${p.rate}`);
  return {
    mix: DEFAULT_MIX,
    timeoutMs: 10_000,
    faultCells: [],
    honourRetryAfter: true,
    maxRetryAfterS: 1,
    maxRetries: 3,
    replicaDownMs: 2000,
    ...p,
  };
}
