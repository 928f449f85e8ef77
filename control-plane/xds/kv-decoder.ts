/**
 * Decodes a small KV listing (cells/) incrementally for the xDS feed: entries whose ModifyIndex
 * did not move keep their decoded value. Invalid values keep the last good one and are reported
 * once per ModifyIndex (docs/contracts.md §Following Consul). Markets, the big prefix, go through
 * the shared follower instead (shared/markets/follower.ts).
 */
import type { KvEntry } from '../../shared/routing-table.js';

interface Decoded<T> {
  modifyIndex: number;
  value: T | undefined;
}

/** Decodes successive listings of one prefix (see the module comment). */
export class IncrementalDecoder<T> {
  private known = new Map<string, Decoded<T>>();
  constructor(
    private readonly idOf: (key: string) => string | undefined,
    private readonly decode: (text: string | null) => { ok: true; value: T } | { ok: false; problems: string[] },
    private readonly report: (key: string, problems: string[]) => void,
  ) {}

  /** The records of the listing, by id. */
  apply(entries: readonly KvEntry[]): Map<string, T> {
    const next = new Map<string, Decoded<T>>();
    const out = new Map<string, T>();
    for (const e of entries) {
      if (e.key.endsWith('/')) continue;
      const id = this.idOf(e.key);
      if (id === undefined) {
        if (!this.known.has(e.key)) this.report(e.key, ['(key): not a valid id']);
        next.set(e.key, { modifyIndex: e.modifyIndex, value: undefined });
        continue;
      }
      const old = this.known.get(e.key);
      let d: Decoded<T>;
      if (old !== undefined && old.modifyIndex === e.modifyIndex) d = old;
      else {
        const r = this.decode(e.value);
        if (r.ok) d = { modifyIndex: e.modifyIndex, value: r.value };
        else {
          this.report(e.key, r.problems);
          d = { modifyIndex: e.modifyIndex, value: old?.value };
        }
      }
      next.set(e.key, d);
      if (d.value !== undefined) out.set(id, d.value);
    }
    this.known = next;
    return out;
  }
}
