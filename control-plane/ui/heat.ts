/**
 * Load per cell and market for the console's heat map (docs/console.md §Heat map): each poll
 * scrapes every passing cell instance's `/metrics` for `cellsim_orders_accepted_total{market}`
 * (the cells' own per-market counter, the one placement reads) and turns the difference from
 * the previous scrape into orders per second per (cell, market). The busiest markets are kept.
 * The same scrape reads each cell's reconciliation alert (`cellsim_reconcile_last_found`).
 */
import { lastFound } from '../admin/reconcile-alerts.js';
import { parsePrometheus } from '../rollout/prom.js';

/** One market's row of the heat map: orders/s on each cell that accepted any. */
export interface HeatRow {
  market: string;
  total: number;
  byCell: Record<string, number>;
}

/** The heat map at one poll. */
export interface MarketHeat {
  /** Cell instances scraped, and how many answered. */
  targets: number;
  answered: number;
  /** Busiest first, at most `top`. */
  rows: HeatRow[];
  /** The largest single (cell, market) rate, for the shading. */
  max: number;
  /** Cells whose last reconciliation found mismatches, with the count (the alert, docs/cells.md §Reconciliation). */
  reconcile: Record<string, number>;
}

/** Markets shown. */
export const HEAT_TOP = 24;

/** Accepted orders per market from one instance's metrics text. */
export function acceptedByMarket(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of parsePrometheus(text))
    if (s.name === 'cellsim_orders_accepted_total' && s.labels.market) out.set(s.labels.market, (out.get(s.labels.market) ?? 0) + s.value);
  return out;
}

/** Scrapes cell instances and keeps each one's previous counters. */
export class HeatScraper {
  private readonly prev = new Map<string, { at: number; accepted: Map<string, number> }>();

  constructor(
    private readonly fetchText: (url: string) => Promise<string> = scrape,
    private readonly top = HEAT_TOP,
  ) {}

  /** Scrapes `targets` (cell id and metrics URL) now; rates since the previous scrape of each URL. */
  async sample(targets: { cell: string; url: string }[], now = Date.now()): Promise<MarketHeat> {
    const texts = await Promise.all(targets.map((t) => this.fetchText(t.url).catch(() => undefined)));
    const rows = new Map<string, HeatRow>();
    let answered = 0;
    const seen = new Set<string>();
    const reconcile: Record<string, number> = {};
    for (const [i, t] of targets.entries()) {
      seen.add(t.url);
      const text = texts[i];
      if (text === undefined) continue;
      answered++;
      const found = lastFound(text);
      if (found > 0) reconcile[t.cell] = Math.max(reconcile[t.cell] ?? 0, found);
      const accepted = acceptedByMarket(text);
      const before = this.prev.get(t.url);
      this.prev.set(t.url, { at: now, accepted });
      const dt = before ? (now - before.at) / 1000 : 0;
      if (!before || dt <= 0) continue;
      for (const [market, n] of accepted) {
        const delta = n - (before.accepted.get(market) ?? 0);
        if (delta <= 0) continue; // idle, or the instance restarted
        const row = rows.get(market) ?? { market, total: 0, byCell: {} };
        row.byCell[t.cell] = (row.byCell[t.cell] ?? 0) + delta / dt;
        row.total += delta / dt;
        rows.set(market, row);
      }
    }
    for (const url of this.prev.keys()) if (!seen.has(url)) this.prev.delete(url);
    const top = [...rows.values()].sort((a, b) => b.total - a.total || a.market.localeCompare(b.market)).slice(0, this.top);
    const max = Math.max(0, ...top.flatMap((r) => Object.values(r.byCell)));
    return { targets: targets.length, answered, rows: top, max, reconcile };
  }
}

/** GET `url` with a 1 s timeout. */
async function scrape(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.text();
}
