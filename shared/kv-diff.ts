/**
 * Turns full listings of one Consul KV prefix (what a recursive blocking query returns on
 * every change) into diffs. Only entries whose ModifyIndex moved are base64-decoded and
 * validated, so a move at 100,000 markets validates one value, not 100,000. An invalid value
 * is reported and the key keeps its last good record (DESIGN §4).
 *
 * {@link KvPrefixDiff.applyText} reads the listing's JSON text directly (Key, Value and
 * ModifyIndex of each entry, in Consul's field order) instead of JSON.parse-ing 100,000
 * objects: at 100,000 markets that is the difference between ~20 MB of short-lived objects per
 * move and none. Any text not in that shape falls back to JSON.parse.
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
  /** The listing generation that last contained the key. */
  seen: number;
  /** The last good value; undefined when the key never held a valid one. */
  value: T | undefined;
}

/** Diffs successive listings of one prefix; holds the last good record of every key. */
export class KvPrefixDiff<T> {
  private readonly byKey = new Map<string, Held<T>>();
  private generation = 0;
  /** Highest ModifyIndex held (0 before the first listing). */
  private maxIndex = 0;
  private lastListingIndex = 0;

  constructor(
    private readonly keyToId: (key: string) => string | undefined,
    private readonly decode: (text: string | null) => Decoded<T>,
  ) {}

  /** Loads records known from elsewhere (a snapshot) as the last good state. */
  seed(key: (id: string) => string, records: readonly (readonly [string, T, number])[]): void {
    for (const [id, value, modifyIndex] of records) {
      this.byKey.set(key(id), { id, value, modifyIndex, seen: this.generation });
      if (modifyIndex > this.maxIndex) this.maxIndex = modifyIndex;
    }
  }

  /** Applies a full listing of the prefix and returns what changed. */
  apply(items: readonly RawKvItem[]): KvDiff<T> {
    const diff = this.begin();
    for (const item of items) this.entry(diff, item.Key, item.ModifyIndex, () => item.Value);
    return this.end(diff);
  }

  /**
   * Applies a listing given as Consul's JSON text (see the module comment); same result as
   * `apply(JSON.parse(text))`. `listingIndex` is the answer's X-Consul-Index.
   *
   * Fast path: a key written since the previous listing has a ModifyIndex above every index
   * of that listing (Raft indexes only grow), so only ModifyIndex numbers are scanned and
   * only entries above the previous maximum are read; when the entry count then matches,
   * nothing was deleted. Otherwise (first listing, deletions, an index that went backwards —
   * a Consul reset) the full scan runs.
   */
  applyText(text: string, listingIndex = 0): KvDiff<T> {
    if (this.maxIndex > 0 && listingIndex >= this.lastListingIndex) {
      const fast = this.applyChanged(text);
      if (fast !== undefined) {
        this.lastListingIndex = listingIndex;
        return fast;
      }
    }
    this.lastListingIndex = listingIndex;
    const entries = scanListing(text);
    if (entries === undefined) return this.apply(JSON.parse(text) as RawKvItem[]);
    const diff = this.begin();
    for (let i = 0; i < entries.length; i += 4) {
      const vs = entries[i + 2] as number;
      const ve = entries[i + 3] as number;
      this.entry(diff, entries[i] as string, entries[i + 1] as number, () => (vs < 0 ? null : text.slice(vs, ve)));
    }
    return this.end(diff);
  }

  /** The fast path of {@link applyText}; undefined when the full scan is needed. */
  private applyChanged(text: string): KvDiff<T> | undefined {
    const diff: KvDiff<T> = { upserts: [], removed: [], invalid: [], examined: 0 };
    const marker = '"ModifyIndex":';
    let count = 0;
    let pos = 0;
    let max = this.maxIndex;
    const changed: number[] = [];
    for (;;) {
      const m = text.indexOf(marker, pos);
      if (m < 0) break;
      let i = skipWs(text, m + marker.length);
      let n = 0;
      for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) n = n * 10 + (c - 48);
      count += 1;
      if (n > this.maxIndex) {
        changed.push(m, n);
        if (n > max) max = n;
      }
      pos = i;
    }
    const pending: [string, number, string | null][] = [];
    for (let j = 0; j < changed.length; j += 2) {
      const m = changed[j]!;
      const k = text.lastIndexOf('"Key":', m);
      const e = k < 0 ? undefined : readEntry(text, k);
      if (e === undefined || e.end < m) return undefined;
      pending.push([e.key, e.modifyIndex, e.vs < 0 ? null : text.slice(e.vs, e.ve)]);
    }
    let created = 0;
    for (const [key] of pending) if (!this.byKey.has(key)) created += 1;
    if (count !== this.byKey.size + created) return undefined; // something was deleted
    this.generation += 1;
    for (const [key, idx, value] of pending) this.entry(diff, key, idx, () => value);
    this.maxIndex = max;
    return diff;
  }

  private begin(): KvDiff<T> {
    this.generation += 1;
    this.maxIndex = 0;
    return { upserts: [], removed: [], invalid: [], examined: 0 };
  }

  private entry(diff: KvDiff<T>, key: string, modifyIndex: number, value: () => string | null): void {
    if (modifyIndex > this.maxIndex) this.maxIndex = modifyIndex;
    const old = this.byKey.get(key);
    if (old && old.modifyIndex === modifyIndex) {
      old.seen = this.generation;
      return;
    }
    const id = this.keyToId(key);
    if (id === undefined) {
      if (!key.endsWith('/') && !old) diff.invalid.push({ key, problems: ['(key): not a valid id'] });
      this.byKey.set(key, { id: key, modifyIndex, value: undefined, seen: this.generation });
      return;
    }
    diff.examined += 1;
    const raw = value();
    const text = raw === null ? null : Buffer.from(raw, 'base64').toString('utf8');
    const decoded = this.decode(text);
    if (decoded.ok) {
      this.byKey.set(key, { id, modifyIndex, value: decoded.value, seen: this.generation });
      diff.upserts.push([id, decoded.value]);
    } else {
      diff.invalid.push({ key, problems: decoded.problems });
      this.byKey.set(key, { id, modifyIndex, value: old?.value, seen: this.generation });
    }
  }

  private end(diff: KvDiff<T>): KvDiff<T> {
    for (const [key, held] of this.byKey) {
      if (held.seen === this.generation) continue;
      this.byKey.delete(key);
      if (held.value !== undefined) diff.removed.push(held.id);
    }
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

/**
 * Scans Consul's `?recurse` JSON text into a flat array of
 * `[key, modifyIndex, valueStart, valueEnd]` quadruples (valueStart −1 for a null value),
 * relying on Consul's field order (Key, Flags, Value, [Session], CreateIndex, ModifyIndex).
 * Returns undefined when the text is not in that shape (escaped keys included): the caller
 * then uses JSON.parse.
 */
export function scanListing(text: string): (string | number)[] | undefined {
  const out: (string | number)[] = [];
  const t = text.trim();
  if (t === '[]' || t === '') return out;
  let pos = 0;
  for (;;) {
    const k = text.indexOf('"Key":', pos);
    if (k < 0) break;
    const entry = readEntry(text, k);
    if (entry === undefined) return undefined;
    const next = text.indexOf('"Key":', k + 6);
    if (next >= 0 && next < entry.end) return undefined;
    out.push(entry.key, entry.modifyIndex, entry.vs, entry.ve);
    pos = entry.end;
  }
  return out;
}

function skipWs(text: string, i: number): number {
  for (let c = text.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = text.charCodeAt(++i));
  return i;
}

/** Reads the entry whose `"Key":` starts at `k` (Consul pretty-prints in dev mode: whitespace allowed). */
function readEntry(text: string, k: number): { key: string; modifyIndex: number; vs: number; ve: number; end: number } | undefined {
  const ks = skipWs(text, k + 6);
  if (text.charCodeAt(ks) !== 34) return undefined;
  const ke = text.indexOf('"', ks + 1);
  const v = ke < 0 ? -1 : text.indexOf('"Value":', ke);
  const m = v < 0 ? -1 : text.indexOf('"ModifyIndex":', v);
  if (m < 0) return undefined;
  const key = text.slice(ks + 1, ke);
  if (key.includes('\\')) return undefined;
  let vs = skipWs(text, v + 8);
  let ve = -1;
  if (text.charCodeAt(vs) === 34) {
    vs += 1;
    ve = text.indexOf('"', vs);
    if (ve < 0 || ve > m) return undefined;
  } else if (text.startsWith('null', vs)) {
    vs = -1;
  } else {
    return undefined;
  }
  let i = skipWs(text, m + 14);
  const d0 = i;
  let n = 0;
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) n = n * 10 + (c - 48);
  if (i === d0) return undefined;
  i = skipWs(text, i);
  if (text.charCodeAt(i) !== 125 /* } */) return undefined;
  return { key, modifyIndex: n, vs, ve, end: i };
}
