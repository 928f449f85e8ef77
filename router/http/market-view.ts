/**
 * What this router process would do with a market's request now, for the control plane's freeze
 * barrier (docs/operators.md §Online migration): the route its table gives the market, and how
 * many of the market's requests it routed to a cell without the cell's answer yet (they may still
 * be on their way there). A migration freezes the source cell only once every router's view
 * shows the market frozen on it with none of those left (control-plane/migration/freeze-barrier.ts).
 */
import type { Resolver } from '../table/resolver.js';
import type { TableStatus } from '../table/source.js';

/** One router process's view of a market (`GET /route?market=`, docs/router.md §Route view). */
export interface MarketView {
  /** The node:cluster worker id under `--workers n`; absent in a single process. */
  worker?: number;
  /** False until the routing table is complete (its routes may be stale until then). */
  ready: boolean;
  /** The market's route in this process's table; null when the table does not hold it (requests get 404). */
  route: { cell: string; state: 'active' | 'frozen'; epoch: number } | null;
  /** The market's requests routed to a cell and not answered by it yet. */
  sending: number;
  /** Why there is no view (a worker that did not answer the primary in time). */
  error?: string;
}

/** Counts each market's requests between their routing to a cell and the cell's answer. */
export class MarketSending {
  private readonly counts = new Map<string, number>();

  enter(market: string): void {
    this.counts.set(market, (this.counts.get(market) ?? 0) + 1);
  }

  leave(market: string): void {
    const n = (this.counts.get(market) ?? 1) - 1;
    if (n > 0) this.counts.set(market, n);
    else this.counts.delete(market);
  }

  count(market: string): number {
    return this.counts.get(market) ?? 0;
  }
}

/** This process's view of `market`. */
export function marketView(
  deps: { resolver: Pick<Resolver, 'resolve'>; table: { status(): TableStatus; readonly ready?: boolean }; sending?: MarketSending },
  market: string,
): MarketView {
  const r = deps.resolver.resolve(market);
  return {
    ready: deps.table.ready ?? deps.table.status().ready,
    route: r ? { cell: r.cell, state: r.state, epoch: r.epoch } : null,
    sending: deps.sending?.count(market) ?? 0,
  };
}
