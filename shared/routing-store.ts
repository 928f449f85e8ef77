/**
 * An incremental routing-table store: the live market → cell → endpoints model that a data
 * plane reads on every request, updated by small diffs (a market moved, a cell record
 * changed, the passing instances changed) instead of rebuilt from full listings. At 100,000
 * markets a rebuild would cost milliseconds per change; a diff costs microseconds.
 *
 * Readers get O(1) lookups and a `generation` that changes whenever cells or endpoints change
 * (market changes are announced by id), so caches in front of the store can tell stale
 * entries from fresh ones. Shared by the router and usable by the xDS server.
 */
import type { CellRecord, MarketRecord } from './kv.js';
import { activeEndpoints, findGlobalCell, type Endpoint, type RoutingTable } from './routing-table.js';
import { SharedValues } from './shared-values.js';

/** What changed in one update. */
export type StoreChange = { kind: 'markets'; ids: readonly string[] } | { kind: 'cells' } | { kind: 'endpoints' };

/** A listener of store changes; called synchronously after the change is applied. */
export type StoreListener = (change: StoreChange) => void;

/** The mutable, incrementally updated routing table. */
export class RoutingStore implements RoutingTable {
  readonly markets = new Map<string, MarketRecord>();
  cells: ReadonlyMap<string, CellRecord> = new Map();
  /** Passing endpoints of each cell's active color. */
  endpoints: ReadonlyMap<string, readonly Endpoint[]> = new Map();
  /** Every passing endpoint, whatever its color. */
  allEndpoints: readonly Endpoint[] = [];
  globalCell: string | undefined = undefined;
  /** Bumped on every cells/endpoints change. */
  generation = 0;
  private readonly listeners: StoreListener[] = [];

  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: StoreListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private emit(change: StoreChange): void {
    for (const l of this.listeners) l(change);
  }

  /**
   * Market records are interned: markets with the same cell, state and epoch share one frozen
   * record object. At 100,000 markets that saves an object and its strings per market, and lets a
   * reader key per-record work by identity (router/table/resolver.ts).
   */
  private readonly interned = new SharedValues<MarketRecord>(() => this.markets.size);

  private intern(rec: MarketRecord): MarketRecord {
    const xp = rec.experiment;
    const sm = rec.shareMove;
    const key =
      `${rec.cell}\n${rec.state}\n${rec.epoch}${xp ? `\n${xp.header}\n${xp.color}\n${xp.percent}` : ''}` +
      (sm ? `\nsm\n${sm.to}\n${sm.header}\n${sm.percent}` : '');
    const copy: MarketRecord = { cell: rec.cell, state: rec.state, epoch: rec.epoch };
    // An experiment's or share move's market keeps its own record (docs/experiments.md): its route differs.
    if (xp) copy.experiment = Object.freeze({ header: xp.header, color: xp.color, percent: xp.percent });
    if (sm) copy.shareMove = Object.freeze({ to: sm.to, header: sm.header, percent: sm.percent });
    return this.interned.get(key) ?? this.interned.add(key, Object.freeze(copy));
  }

  /** Applies market upserts and removals (one diff); unchanged records are not announced. */
  applyMarkets(upserts: readonly (readonly [string, MarketRecord])[], removed: readonly string[] = []): string[] {
    const changed: string[] = [];
    for (const [id, rec] of upserts) {
      const old = this.markets.get(id);
      if (old && old.cell === rec.cell && old.state === rec.state && old.epoch === rec.epoch && sameSplits(old, rec)) continue;
      this.markets.set(id, this.intern(rec));
      changed.push(id);
    }
    for (const id of removed) if (this.markets.delete(id)) changed.push(id);
    if (changed.length > 0) this.emit({ kind: 'markets', ids: changed });
    return changed;
  }

  /** Replaces every market record (a full listing); announces only the ids that changed. */
  replaceMarkets(all: readonly (readonly [string, MarketRecord])[]): string[] {
    const seen = new Set<string>();
    for (const [id] of all) seen.add(id);
    const removed: string[] = [];
    for (const id of this.markets.keys()) if (!seen.has(id)) removed.push(id);
    return this.applyMarkets(all, removed);
  }

  /** Replaces the cell records. */
  setCells(cells: ReadonlyMap<string, CellRecord>): void {
    this.cells = cells;
    this.globalCell = findGlobalCell(cells);
    this.endpoints = activeEndpoints(cells, this.allEndpoints);
    this.generation += 1;
    this.emit({ kind: 'cells' });
  }

  /** Replaces the passing endpoints (every color; the active color is chosen here). */
  setEndpoints(all: readonly Endpoint[]): void {
    this.allEndpoints = all;
    this.endpoints = activeEndpoints(this.cells, all);
    this.generation += 1;
    this.emit({ kind: 'endpoints' });
  }
}

/** Whether two records carry the same experiment and the same share move (or neither). */
function sameSplits(a: MarketRecord, b: MarketRecord): boolean {
  const x = a.experiment;
  const y = b.experiment;
  const s = a.shareMove;
  const t = b.shareMove;
  return (
    (x === y || (x !== undefined && y !== undefined && x.header === y.header && x.color === y.color && x.percent === y.percent)) &&
    (s === t || (s !== undefined && t !== undefined && s.to === t.to && s.header === t.header && s.percent === t.percent))
  );
}
