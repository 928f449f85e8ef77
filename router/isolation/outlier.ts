/**
 * Outlier ejection per endpoint (in the manner of Envoy's outlier detection): an endpoint
 * with consecutive transport failures or consecutive 5xx answers is taken out of the
 * rotation for a while (longer each time), never more than a share of its cell's endpoints.
 */

/** Options (defaults in brackets). */
export interface OutlierOptions {
  /** Consecutive transport failures that eject [3]. */
  consecutiveTransport?: number;
  /** Consecutive 5xx answers that eject [5]. */
  consecutive5xx?: number;
  /** First ejection, ms; multiplied by the ejection count [5,000]. */
  baseEjectMs?: number;
  /** Longest ejection, ms [60,000]. */
  maxEjectMs?: number;
  /** Largest share of a cell's endpoints ejected at once, percent [50]. */
  maxEjectedPercent?: number;
  now?: () => number;
}

interface EndpointHealth {
  transport: number;
  status: number;
  ejectedUntil: number;
  ejections: number;
}

/** Outlier detection for the endpoints of one cell. */
export class OutlierDetector {
  private readonly byId = new Map<string, EndpointHealth>();
  private readonly o: Required<Omit<OutlierOptions, 'now'>>;
  private readonly now: () => number;

  constructor(opts: OutlierOptions = {}) {
    this.o = {
      consecutiveTransport: opts.consecutiveTransport ?? 3,
      consecutive5xx: opts.consecutive5xx ?? 5,
      baseEjectMs: opts.baseEjectMs ?? 5000,
      maxEjectMs: opts.maxEjectMs ?? 60_000,
      maxEjectedPercent: opts.maxEjectedPercent ?? 50,
    };
    this.now = opts.now ?? Date.now;
  }

  /** True while `id` is ejected. */
  isEjected(id: string): boolean {
    const h = this.byId.get(id);
    return h !== undefined && h.ejectedUntil > this.now();
  }

  /** Records one result; returns true when it ejected the endpoint. `cellSize` is the number of endpoints of its cell. */
  record(id: string, result: 'ok' | 'transport' | 'status', cellSize: number): boolean {
    let h = this.byId.get(id);
    if (!h) this.byId.set(id, (h = { transport: 0, status: 0, ejectedUntil: 0, ejections: 0 }));
    if (result === 'ok') {
      h.transport = 0;
      h.status = 0;
      return false;
    }
    if (result === 'transport') h.transport += 1;
    else h.status += 1;
    const over = h.transport >= this.o.consecutiveTransport || h.status >= this.o.consecutive5xx;
    if (!over || h.ejectedUntil > this.now()) return false;
    if (((this.ejectedCount() + 1) * 100) / Math.max(1, cellSize) > this.o.maxEjectedPercent) return false;
    h.ejections += 1;
    h.ejectedUntil = this.now() + Math.min(this.o.baseEjectMs * h.ejections, this.o.maxEjectMs);
    h.transport = 0;
    h.status = 0;
    return true;
  }

  /** Forgets endpoints that are gone. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.byId.keys()) if (!ids.has(id)) this.byId.delete(id);
  }

  private ejectedCount(): number {
    const now = this.now();
    let n = 0;
    for (const h of this.byId.values()) if (h.ejectedUntil > now) n += 1;
    return n;
  }
}
