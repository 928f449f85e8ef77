/**
 * Panic routing for Envoy's endpoints (shared/last-passing.ts says why): a cell of the routing
 * table whose active color has no passing instance keeps its last passing instances in EDS for
 * `panicMs`. Envoy's active health check (`GET /v1/_edge-probe`) and outlier ejection still
 * take a dead instance out, so a cell that is really down still fails fast; one that Consul
 * briefly called critical (a Consul restart, a missed 1 s check) keeps serving.
 */
import type { CellRecord } from '../../shared/kv.js';
import { LastPassing } from '../../shared/last-passing.js';
import type { Endpoint } from '../../shared/routing-table.js';

/** The endpoints to publish, which cells are served from their last passing set, and until when. */
export interface PanicResult {
  endpoints: Map<string, Endpoint[]>;
  /** Cells whose endpoints are the remembered ones. */
  panicking: string[];
  /** The earliest moment a remembered set stops standing in (undefined when none does). */
  nextExpiry: number | undefined;
}

/** Remembers each cell's last passing endpoints and stands them in for an empty set. */
export class PanicEndpoints {
  private readonly last: LastPassing;

  /** @param panicMs how long the last passing set stands in, ms (default 60 s; 0: off). */
  constructor(panicMs = 60_000) {
    this.last = new LastPassing(panicMs);
  }

  /** `active`: the passing endpoints of each cell's active color (shared/routing-table.ts activeEndpoints). */
  apply(cells: ReadonlyMap<string, CellRecord>, active: Map<string, Endpoint[]>, now = Date.now()): PanicResult {
    const panicking: string[] = [];
    let nextExpiry: number | undefined;
    for (const [cell, record] of cells) {
      const key = `${cell}/${record.activeColor ?? '*'}`;
      const passing = active.get(cell) ?? [];
      const endpoints = this.last.endpoints(key, passing, now);
      if (endpoints === passing) continue;
      active.set(cell, [...endpoints]);
      panicking.push(cell);
      const expiry = this.last.expiresAt(key);
      if (expiry !== undefined && (nextExpiry === undefined || expiry < nextExpiry)) nextExpiry = expiry;
    }
    return { endpoints: active, panicking, nextExpiry };
  }
}
