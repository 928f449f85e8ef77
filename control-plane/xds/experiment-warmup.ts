/**
 * Make-before-break for A/B experiments on Envoy (docs/experiments.md): a market's live experiment
 * gets its route configuration and one-color clusters at once (each anchored, so Envoy loads them),
 * but its scope moves to that configuration only `warmMs` later. Switched in the same push, Envoy
 * answered a few requests 404 unknown_market (the scope named a configuration not loaded yet) or
 * 503 (a cluster still warming) in ab-experiment.test.ts. A change of percent or header only
 * edits the loaded configuration and needs no wait; a new cell or color does.
 */
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import { experimentLive } from '../../shared/experiment.js';

/** How long an experiment's Envoy resources are published before its market's scope uses them. */
export const EXPERIMENT_WARM_MS = 3000;

/** Which markets' experiments are warm, and when the next one will be. */
export interface WarmResult {
  warm: ReadonlySet<string>;
  nextExpiry: number | undefined;
}

/** Tracks since when each market's live experiment has had its resources published. */
export class ExperimentWarmup {
  private readonly since = new Map<string, { key: string; at: number }>();

  constructor(
    private readonly warmMs = EXPERIMENT_WARM_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Updates from `markets` (only `changed` and the tracked ones, unless `changed` is undefined). */
  apply(
    markets: ReadonlyMap<string, MarketRecord>,
    changed: ReadonlySet<string> | undefined,
    cells: ReadonlyMap<string, CellRecord>,
  ): WarmResult {
    const t = this.now();
    const look = new Set(this.since.keys());
    if (changed === undefined) {
      for (const [m, rec] of markets) if (rec.experiment) look.add(m);
    } else for (const m of changed) look.add(m);
    for (const market of look) {
      const rec = markets.get(market);
      const cell = rec === undefined ? undefined : cells.get(rec.cell);
      if (rec === undefined || rec.state !== 'active' || !experimentLive(rec.experiment, cell)) {
        this.since.delete(market);
        continue;
      }
      const key = `${rec.cell}/${cell!.activeColor}/${rec.experiment.color}`;
      if (this.since.get(market)?.key !== key) this.since.set(market, { key, at: t });
    }
    const warm = new Set<string>();
    let nextExpiry: number | undefined;
    for (const [market, { at }] of this.since) {
      if (t - at >= this.warmMs) warm.add(market);
      else if (nextExpiry === undefined || at + this.warmMs < nextExpiry) nextExpiry = at + this.warmMs;
    }
    return { warm, nextExpiry };
  }
}
