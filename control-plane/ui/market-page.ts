/**
 * One page of the market map (docs/console.md §Markets), cut on the server from the xDS
 * server's own market map: search by name prefix or substring, filter by cell and state, 100
 * rows a page. The sorted key list is rebuilt only when the map object or its size changed.
 */
import type { MarketRecord } from '../../shared/kv.js';

/** What a page asks for. */
export interface MarketQuery {
  q?: string;
  cell?: string;
  /** `active`, `frozen` or `migrating` (a migration not finished). */
  state?: string;
  page?: number;
}

/** One row. */
export interface MarketRow {
  market: string;
  cell: string;
  state: string;
  epoch: number;
  migrating: boolean;
}

/** A page of rows and how many matched. */
export interface MarketPage {
  rows: MarketRow[];
  matched: number;
  page: number;
  pages: number;
  pageSize: number;
}

/** Rows per page. */
export const PAGE_SIZE = 100;

/** Cuts pages from a market map, keeping its sorted keys between calls. */
export class MarketPager {
  private keys: string[] = [];
  private source: ReadonlyMap<string, MarketRecord> | undefined;
  private size = -1;

  /** The page `q` asks for; `migrating` names the markets with a migration under way. */
  page(markets: ReadonlyMap<string, MarketRecord>, migrating: ReadonlySet<string>, q: MarketQuery): MarketPage {
    if (markets !== this.source || markets.size !== this.size) {
      this.keys = [...markets.keys()].sort();
      this.source = markets;
      this.size = markets.size;
    }
    const needle = q.q?.trim().toLowerCase() ?? '';
    const rows: MarketRow[] = [];
    const page = Math.max(1, Math.floor(q.page ?? 1));
    const from = (page - 1) * PAGE_SIZE;
    let matched = 0;
    for (const key of this.keys) {
      if (needle && !key.includes(needle)) continue;
      const m = markets.get(key);
      if (!m) continue;
      const isMigrating = migrating.has(key);
      if (q.cell && m.cell !== q.cell) continue;
      if (q.state === 'migrating' ? !isMigrating : q.state && m.state !== q.state) continue;
      if (matched >= from && matched < from + PAGE_SIZE)
        rows.push({ market: key, cell: m.cell, state: m.state, epoch: m.epoch, migrating: isMigrating });
      matched++;
    }
    return { rows, matched, page, pages: Math.max(1, Math.ceil(matched / PAGE_SIZE)), pageSize: PAGE_SIZE };
  }
}
