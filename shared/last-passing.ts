/**
 * Panic routing from Consul's side: when a cell suddenly has no passing instance, keep using the
 * last passing ones for a while instead of none. Consul reports every check critical for a
 * moment after it restarts (seen: 1–2 s after a `consul-outage` drill's restart, every cell at
 * once), and a cell busy for a second misses its 1 s check while it still serves. Routing
 * around all of a cell's instances answers 503 for every one of its markets, which is worse than
 * sending to instances that may be down: a dead instance refuses the connection and the data
 * plane's own isolation (the router's breaker, Envoy's active health check and outlier
 * ejection) answers fast just the same. Like Envoy's panic threshold, applied per cell and
 * color (only the active color ever receives traffic).
 */
import type { Endpoint } from './routing-table.js';

interface Remembered {
  endpoints: readonly Endpoint[];
  at: number;
}

/** The last passing endpoints per key (a cell, or a cell and color), kept for `panicMs`. */
export class LastPassing {
  private readonly known = new Map<string, Remembered>();

  /** @param panicMs how long the last passing set stands in for an empty one, ms (default 60 s). */
  constructor(readonly panicMs = 60_000) {}

  /**
   * The endpoints to use for `key`: `passing` when it is not empty (and it is remembered);
   * otherwise the last non-empty set, if seen within `panicMs`; otherwise `passing` (none).
   * The answer is a stand-in (panic routing) exactly when it is not `passing` itself.
   */
  endpoints(key: string, passing: readonly Endpoint[], now = Date.now()): readonly Endpoint[] {
    const last = this.known.get(key);
    if (passing.length > 0) {
      // Called per request by the router: update in place, allocate nothing.
      if (last === undefined) this.known.set(key, { endpoints: passing, at: now });
      else {
        last.endpoints = passing;
        last.at = now;
      }
      return passing;
    }
    return last !== undefined && now - last.at <= this.panicMs ? last.endpoints : passing;
  }

  /** When the set remembered for `key` stops standing in (undefined when none is). */
  expiresAt(key: string): number | undefined {
    const last = this.known.get(key);
    return last === undefined ? undefined : last.at + this.panicMs;
  }
}
