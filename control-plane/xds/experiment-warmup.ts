/**
 * Make-before-break for A/B experiments on Envoy (docs/experiments.md): a market's live experiment
 * gets its route configuration and one-color clusters at once (each anchored, so Envoy loads them),
 * but its scope moves to that configuration only `warmMs` later. Switched in the same push, Envoy
 * answered a few requests 404 unknown_market (the scope named a configuration not loaded yet) or
 * 503 (a cluster still warming) in ab-experiment.test.ts. A change of percent or header only
 * edits the loaded configuration and needs no wait; a new cell or color does. A market's share move
 * (docs/weighted-shifts.md) warms the same way: its configuration `sm:<market>` is new, though the
 * target's cluster is not; a new target starts the wait again.
 */
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import { experimentLive, shareMoveTarget } from '../../shared/experiment.js';

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
  /** Markets whose record has an experiment or a share move (live or not). */
  private readonly keyed = new Set<string>();

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
    if (changed === undefined) {
      this.keyed.clear();
      for (const [m, rec] of markets) if (rec.experiment || rec.shareMove) this.keyed.add(m);
    } else
      for (const m of changed) {
        const rec = markets.get(m);
        if (rec?.experiment || rec?.shareMove) this.keyed.add(m);
        else this.keyed.delete(m);
      }
    // Every market with a split, not only changed ones: a cell record's change (a color flip, a
    // share move's target appearing) turns a split on without its market record changing.
    for (const market of new Set([...this.since.keys(), ...this.keyed])) {
      const rec = markets.get(market);
      const cell = rec === undefined ? undefined : cells.get(rec.cell);
      const to = rec === undefined ? undefined : shareMoveTarget(rec, cells);
      let key: string | undefined;
      if (rec !== undefined && to !== undefined) key = `sm/${rec.cell}/${to}`;
      else if (rec !== undefined && rec.state === 'active' && experimentLive(rec.experiment, cell))
        key = `${rec.cell}/${cell!.activeColor}/${rec.experiment.color}`;
      if (key === undefined) {
        this.since.delete(market);
        continue;
      }
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
