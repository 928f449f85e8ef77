/**
 * Turns full listings of one Consul KV prefix (what a recursive blocking query returns on
 * every change) into diffs. Only entries whose ModifyIndex moved are base64-decoded and
 * validated, so a move at 100,000 markets validates one value, not 100,000. An invalid value
 * is reported and the key keeps its last good record (DESIGN §4).
 */
import type { Decoded } from './kv.js';
import type { InvalidEntry } from './routing-table.js';

/** One item of Consul's `GET /v1/kv/<prefix>?recurse` answer (Value is base64). */
export interface RawKvItem {
  Key: string;
  Value: string | null;
  ModifyIndex: number;
}

/** The changes one listing made. */
export interface KvDiff<T> {
  upserts: [string, T][];
  removed: string[];
  invalid: InvalidEntry[];
  /** Entries whose ModifyIndex moved (decoded and validated). */
  examined: number;
}

interface Held<T> {
  id: string;
  modifyIndex: number;
  /** The last good value; undefined when the key never held a valid one. */
  value: T | undefined;
}

/** Diffs successive listings of one prefix; holds the last good record of every key. */
export class KvPrefixDiff<T> {
  private byKey = new Map<string, Held<T>>();

  constructor(
    private readonly keyToId: (key: string) => string | undefined,
    private readonly decode: (text: string | null) => Decoded<T>,
  ) {}

  /** Loads records known from elsewhere (a snapshot) as the last good state. */
  seed(key: (id: string) => string, records: readonly (readonly [string, T, number])[]): void {
    for (const [id, value, modifyIndex] of records) this.byKey.set(key(id), { id, value, modifyIndex });
  }

  /** Applies a full listing of the prefix and returns what changed. */
  apply(items: readonly RawKvItem[]): KvDiff<T> {
    const next = new Map<string, Held<T>>();
    const diff: KvDiff<T> = { upserts: [], removed: [], invalid: [], examined: 0 };
    for (const item of items) {
      const old = this.byKey.get(item.Key);
      if (old && old.modifyIndex === item.ModifyIndex) {
        next.set(item.Key, old);
        continue;
      }
      const id = this.keyToId(item.Key);
      if (id === undefined) {
        if (!item.Key.endsWith('/')) diff.invalid.push({ key: item.Key, problems: ['(key): not a valid id'] });
        continue;
      }
      diff.examined += 1;
      const text = item.Value === null ? null : Buffer.from(item.Value, 'base64').toString('utf8');
      const decoded = this.decode(text);
      if (decoded.ok) {
        next.set(item.Key, { id, modifyIndex: item.ModifyIndex, value: decoded.value });
        diff.upserts.push([id, decoded.value]);
      } else {
        diff.invalid.push({ key: item.Key, problems: decoded.problems });
        next.set(item.Key, { id, modifyIndex: item.ModifyIndex, value: old?.value });
      }
    }
    for (const [key, held] of this.byKey) if (!next.has(key) && held.value !== undefined) diff.removed.push(held.id);
    this.byKey = next;
    return diff;
  }

  /** Every key's last good record, with its ModifyIndex. */
  records(): [string, T, number][] {
    const out: [string, T, number][] = [];
    for (const held of this.byKey.values()) if (held.value !== undefined) out.push([held.id, held.value, held.modifyIndex]);
    return out;
  }

  /** Number of keys with a good record. */
  get size(): number {
    let n = 0;
    for (const held of this.byKey.values()) if (held.value !== undefined) n += 1;
    return n;
  }
}
