/**
 * The color a cell just switched away from, kept in its EDS as a fallback for a short while.
 *
 * A blue/green flip (`cells/<id>.activeColor`, control-plane/rollout) replaces a cell's EDS hosts
 * with the other color's. Envoy counts a host new to a health-checked cluster as unhealthy until
 * its first active check passes, and with `healthy_panic_threshold: 0` a cell with no healthy
 * host answers `503 cell_unavailable`. So the instant between the EDS update and the first check
 * of the new hosts failed requests (seen in the operators topology test and by CI).
 *
 * For `graceMs` after a flip, the previous color's passing instances are published at priority 1
 * beside the new color at priority 0 (resources/endpoint.ts). Envoy sends everything to priority 0
 * once its hosts are healthy, and spills to priority 1 only while they are not: the old color,
 * still running and checked, serves that instant. After the grace the old color is gone from EDS.
 */
import type { CellRecord } from '../../shared/kv.js';
import type { Endpoint } from '../../shared/routing-table.js';

/** The fallback endpoints of cells that flipped color recently, and when the next one ends. */
export interface FlipFallbackResult {
  fallback: Map<string, Endpoint[]>;
  /** The earliest moment a fallback ends (undefined when none is kept). */
  nextExpiry: number | undefined;
}

/** Follows each cell's active color and keeps the previous one as a fallback after a flip. */
export class FlipFallback {
  private readonly color = new Map<string, string | undefined>();
  private readonly until = new Map<string, number>();

  /** @param graceMs how long the previous color stays as a fallback, ms (0: off). */
  constructor(readonly graceMs = 10_000) {}

  /** `all`: every passing cell instance, of any color. */
  apply(cells: ReadonlyMap<string, CellRecord>, all: readonly Endpoint[], now = Date.now()): FlipFallbackResult {
    for (const [cell, record] of cells) {
      const was = this.color.get(cell);
      if (this.color.has(cell) && was !== record.activeColor && this.graceMs > 0) this.until.set(cell, now + this.graceMs);
      this.color.set(cell, record.activeColor);
    }
    for (const cell of this.color.keys()) if (!cells.has(cell)) this.color.delete(cell);
    let nextExpiry: number | undefined;
    for (const [cell, end] of this.until) {
      if (end <= now || !cells.has(cell)) this.until.delete(cell);
      else if (nextExpiry === undefined || end < nextExpiry) nextExpiry = end;
    }
    const fallback = new Map<string, Endpoint[]>();
    for (const ep of all) {
      if (!this.until.has(ep.cell)) continue;
      const active = cells.get(ep.cell)?.activeColor;
      if (active === undefined || ep.color === active) continue; // no color: every instance is already primary
      let list = fallback.get(ep.cell);
      if (list === undefined) fallback.set(ep.cell, (list = []));
      list.push(ep);
    }
    return { fallback, nextExpiry };
  }
}
