/** An in-memory stand-in for the cell admin API, for the migration state machine's unit tests only. */
import { createHash } from 'node:crypto';
import type { CellAdmin, CopyResult, MarketSummary } from './cell-client.js';

/** One fake cell's data: market → order ids. */
interface FakeCell {
  orders: Map<string, Set<string>>;
  frozen: Set<string>;
  pending: number;
  healthy: boolean;
}

/** Fake cells with hooks to inject failures between steps. */
export class FakeCells implements CellAdmin {
  readonly cells = new Map<string, FakeCell>();
  /** Called at the start of each operation; throw to inject a failure. */
  hook: (op: string, cell: string) => void | Promise<void> = () => undefined;
  readonly calls: string[] = [];

  constructor(ids: string[]) {
    for (const id of ids) this.cells.set(id, { orders: new Map(), frozen: new Set(), pending: 0, healthy: true });
  }

  private cell(id: string): FakeCell {
    const c = this.cells.get(id);
    if (!c) throw new Error(`no fake cell ${id}`);
    return c;
  }

  /** Adds orders to a market in a cell (refused while frozen, like the real cell). */
  write(cell: string, market: string, ids: string[]): void {
    const c = this.cell(cell);
    if (c.frozen.has(market)) throw new Error('market_frozen');
    const set = c.orders.get(market) ?? new Set<string>();
    for (const id of ids) set.add(id);
    c.orders.set(market, set);
  }

  orders(cell: string, market: string): string[] {
    return [...(this.cell(cell).orders.get(market) ?? [])].sort();
  }

  async healthy(cell: string): Promise<boolean> {
    return this.cells.get(cell)?.healthy ?? false;
  }

  async copy(market: string, from: string, to: string, since?: string | number): Promise<CopyResult> {
    // A change copy is a 'precopy' while the source still takes writes, a 'delta' once it is frozen.
    const op = since === undefined ? 'copy' : this.cell(from).frozen.has(market) ? 'delta' : 'precopy';
    this.calls.push(`copy ${from}->${to}${since === undefined ? '' : ` ${op}`}`);
    await this.hook(op, from);
    const rows = this.orders(from, market);
    const dst = this.cell(to);
    const set = dst.orders.get(market) ?? new Set<string>();
    let n = 0;
    for (const id of rows) {
      if (set.has(id)) continue;
      set.add(id);
      n++;
    }
    dst.orders.set(market, set);
    return { rows: since === undefined ? rows.length : n, cursor: rows.length };
  }

  async freeze(cell: string, market: string): Promise<void> {
    this.calls.push(`freeze ${cell}`);
    await this.hook('freeze', cell);
    this.cell(cell).frozen.add(market);
  }

  async unfreeze(cell: string, market: string): Promise<void> {
    this.calls.push(`unfreeze ${cell}`);
    this.cell(cell).frozen.delete(market);
  }

  async summary(cell: string, market: string): Promise<MarketSummary> {
    await this.hook('summary', cell);
    const ids = this.orders(cell, market);
    const c = this.cell(cell);
    const pending = c.pending;
    if (c.pending > 0) c.pending -= 1;
    return {
      market,
      orders: ids.length,
      deliveries: ids.length,
      checksum: createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16),
      pending: { outbox: pending, log: 0, sagas: 0 },
    };
  }

  async purge(cell: string, market: string): Promise<void> {
    this.calls.push(`purge ${cell}`);
    await this.hook('purge', cell);
    this.cell(cell).orders.delete(market);
  }
}
