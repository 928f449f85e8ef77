/**
 * Turns full listings of one Consul KV prefix (what a recursive blocking query returns on
 * every change) into diffs. Only entries whose ModifyIndex moved are base64-decoded and
 * validated, so a move at 100,000 markets validates one value, not 100,000. An invalid value
 * is reported and the key keeps its last good record (docs/contracts.md §Following Consul).
 *
 * Listings are read as a stream of text chunks ({@link KvPrefixDiff.reader}), never as one
 * string nor as `JSON.parse`d objects: at 100,000 markets a listing is 12–23 MB, and holding it
 * (twice: bytes and string) per move is what made a router's memory grow. Only Key, Value and
 * ModifyIndex of each entry are read, relying on Consul's field order.
 *
 * Fast path: a key written since the previous listing has a ModifyIndex above every index that
 * listing held (Raft indexes only grow), so entries at or below the previous maximum are only
 * counted; when the count then matches, nothing was deleted. Otherwise (first listing,
 * deletions, an index that went backwards — a Consul reset — or text not in the usual shape)
 * the reader answers `undefined` and the caller reads the listing again in full mode.
 *
 * Point updates: a follower that knows which keys changed (shared/markets/follower.ts) reads them
 * one by one and applies them with {@link KvPrefixDiff.applyPoint}. A listing in flight at that
 * moment may be older than such a read; until a listing at least as new as the read arrives, the
 * key keeps the read's record (a listing never undoes a newer point read, nor brings back a key a
 * point read found deleted).
 */
import type { Decoded } from './kv.js';
import type { InvalidEntry } from './routing-table.js';
import { SharedValues } from './shared-values.js';

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

/** Reads one listing chunk by chunk (see {@link KvPrefixDiff.reader}). */
export interface ListingReader<T> {
  push(chunk: string): void;
  /** The diff, or undefined when the listing must be read again in full mode. */
  end(): KvDiff<T> | undefined;
}

interface Held<T> {
  modifyIndex: number;
  /** The listing generation that last contained the key. */
  seen: number;
  /** The last good value; undefined when the key never held a valid one. */
  value: T | undefined;
}

/** Diffs successive listings of one prefix; holds the last good record of every key. */
export class KvPrefixDiff<T> {
  /**
   * Keys that name a valid ID, held by that ID alone: a key is `idPrefix` + ID, so holding the
   * key too would keep a second string per entry, and a key built by concatenation a third
   * (docs/router.md §Memory).
   */
  private readonly byId = new Map<string, Held<T>>();
  /** Keys under the prefix that name no valid ID (reported once, then only counted), by key. */
  private readonly odd = new Map<string, Held<T>>();
  /**
   * Decoded values by their text: keys with the same value share one decoded object (most market
   * records repeat a few cell/state/epoch values; docs/router.md §Memory). Values are never
   * mutated.
   */
  private readonly decodedByText = new SharedValues<T>(() => this.byId.size);
  private generation = 0;
  /** Highest ModifyIndex held (0 before the first listing). */
  private maxIndex = 0;
  /** Highest ModifyIndex of the last listing: the fast path's floor (point updates excluded). */
  private listingMax = 0;
  private lastListingIndex = 0;
  /** The next listing replaces whatever is held, whatever its indexes (after a seed). */
  private resetNext = false;
  /**
   * Keys (by ID) a point read applied since the last listing at least as new, with the index of
   * that read: a listing older than it leaves them alone.
   */
  private readonly pointReads = new Map<string, number>();

  /**
   * @param idPrefix what every key of an ID starts with (`cellsim/markets/`); the rest is the ID
   * @param isId whether the rest of a key is a valid ID
   * @param decode validates a value's text (null: a key without a value)
   */
  constructor(
    private readonly idPrefix: string,
    private readonly isId: (id: string) => boolean,
    private readonly decode: (text: string | null) => Decoded<T>,
  ) {}

  /** What follows `idPrefix` in `key` (not validated), or undefined for a key outside it. */
  private idPart(key: string): string | undefined {
    return key.startsWith(this.idPrefix) ? key.slice(this.idPrefix.length) : undefined;
  }

  /** The held entry of `key`, if any (no validation: only valid IDs are ever held by ID). */
  private held(key: string): Held<T> | undefined {
    const id = this.idPart(key);
    const byId = id === undefined ? undefined : this.byId.get(id);
    if (byId !== undefined) return byId;
    return this.odd.size === 0 ? undefined : this.odd.get(key);
  }

  /** Keys held, with or without a good value. */
  private get keys(): number {
    return this.byId.size + this.odd.size;
  }

  /** Loads records known from elsewhere (a snapshot, another shard) as the last good state. */
  seed(records: readonly (readonly [string, T, number])[]): void {
    for (const [id, value, modifyIndex] of records) {
      this.byId.set(id, { value, modifyIndex, seen: this.generation });
      if (modifyIndex > this.maxIndex) this.maxIndex = modifyIndex;
    }
    // Seeded indexes may come from another Consul (a snapshot): the next listing is read in full
    // and replaces them, whatever its indexes.
    this.lastListingIndex = Number.MAX_SAFE_INTEGER;
    this.resetNext = true;
    this.pointReads.clear();
  }

  /** Applies a full listing of the prefix (answered at `listingIndex`, 0 = unknown) and returns what changed. */
  apply(items: readonly RawKvItem[], listingIndex = 0): KvDiff<T> {
    this.startListing(listingIndex);
    const diff = this.begin();
    for (const item of items) this.entry(diff, item.Key, item.ModifyIndex, () => item.Value, true);
    this.lastListingIndex = 0;
    this.listingMax = items.reduce((m, i) => Math.max(m, i.ModifyIndex), 0);
    return this.end(diff, listingIndex);
  }

  /**
   * Applies one key read on its own (a follower's point read): its value as Consul sends it
   * (base64; null for a key without one) at `modifyIndex`, or `value` undefined when the read found
   * no key (then `modifyIndex` is the read's X-Consul-Index).
   * A read older than what is held changes nothing.
   */
  applyPoint(id: string, value: string | null | undefined, modifyIndex: number): KvDiff<T> {
    const diff: KvDiff<T> = { upserts: [], removed: [], invalid: [], examined: 0 };
    const held = this.byId.get(id);
    if (held !== undefined && held.modifyIndex > modifyIndex && !this.resetNext) return diff;
    this.pointReads.set(id, Math.max(modifyIndex, this.pointReads.get(id) ?? 0));
    if (modifyIndex > this.maxIndex) this.maxIndex = modifyIndex;
    if (value === undefined) {
      if (held === undefined) return diff;
      this.byId.delete(id);
      if (held.value !== undefined) diff.removed.push(id);
      return diff;
    }
    this.entry(diff, this.idPrefix + id, modifyIndex, () => value, false);
    return diff;
  }

  /** The record held for `id`. */
  get(id: string): T | undefined {
    return this.byId.get(id)?.value;
  }

  /** Starts a listing: an index that went back (Consul lost its data) voids the point reads' protection. */
  private startListing(listingIndex: number): void {
    const backwards = listingIndex > 0 && listingIndex < this.lastListingIndex && this.lastListingIndex !== Number.MAX_SAFE_INTEGER;
    if (backwards) this.pointReads.clear();
    this.resetNext = false;
  }

  /**
   * Applies a listing given as Consul's JSON text; same result as `apply(JSON.parse(text))`.
   * `listingIndex` is the answer's X-Consul-Index.
   */
  applyText(text: string, listingIndex = 0): KvDiff<T> {
    const fast = this.reader(listingIndex);
    fast.push(text);
    const diff = fast.end();
    if (diff !== undefined) return diff;
    const full = this.reader(listingIndex, 'full');
    full.push(text);
    return full.end() ?? this.apply(JSON.parse(text) as RawKvItem[], listingIndex);
  }

  /**
   * A reader for one listing arriving in chunks. `mode` `auto` takes the fast path when it
   * can (see the module comment); its `end()` answers undefined when the listing must be read
   * again in `full` mode. A `full` reader answers undefined only for text it cannot read
   * (then use {@link apply} on the parsed JSON).
   */
  reader(listingIndex: number, mode: 'auto' | 'full' = 'auto'): ListingReader<T> {
    const fast = mode === 'auto' && !this.resetNext && this.listingMax > 0 && listingIndex >= this.lastListingIndex;
    const floor = this.listingMax;
    const diff = this.begin(fast);
    let count = 0;
    let failed = false;
    const pending: [string, number, string | null][] = [];
    let listingMax = fast ? floor : 0;
    let carry = '';
    return {
      push: (chunk: string) => {
        if (failed) return;
        const buf = carry + chunk;
        let pos = 0;
        if (fast) {
          // Only ModifyIndex numbers are read; an entry above the floor is read backwards from it.
          for (;;) {
            const m = buf.indexOf(MODIFY_INDEX, pos);
            if (m < 0) break;
            let i = skipWs(buf, m + MODIFY_INDEX.length);
            let n = 0;
            for (let c = buf.charCodeAt(i); c >= 48 && c <= 57; c = buf.charCodeAt(++i)) n = n * 10 + (c - 48);
            if (skipWs(buf, i) >= buf.length) break; // the number may go on in the next chunk
            count += 1;
            if (n > floor) {
              const k = buf.lastIndexOf('"Key":', m);
              const e = k < 0 ? undefined : readEntry(buf, k);
              if (e === undefined || e === 'incomplete' || e.modifyIndex !== n || e.end < m) {
                failed = true;
                return;
              }
              pending.push([detachString(e.key), n, e.vs < 0 ? null : buf.slice(e.vs, e.ve)]);
              if (n > listingMax) listingMax = n;
            }
            pos = i;
          }
          // keep the entry in progress (from its Key) for the next chunk
          const lastKey = buf.lastIndexOf('"Key":');
          carry = buf.slice(lastKey >= pos ? lastKey : Math.max(pos, buf.length - MODIFY_INDEX.length));
          return;
        }
        for (;;) {
          const k = buf.indexOf('"Key":', pos);
          if (k < 0) {
            pos = Math.max(pos, buf.length - 6);
            break;
          }
          const e = readEntry(buf, k);
          if (e === 'incomplete') {
            pos = k;
            break;
          }
          if (e === undefined) {
            failed = true;
            return;
          }
          count += 1;
          // Only unchanged keys are marked while the listing streams in; changed and new ones
          // are applied at end(): a listing cut short (an aborted query) must leave the held
          // records as they were, or a key would count as known without ever being reported.
          const old = this.held(e.key);
          if (e.modifyIndex > this.maxIndex) this.maxIndex = e.modifyIndex;
          if (e.modifyIndex > listingMax) listingMax = e.modifyIndex;
          if (old && old.modifyIndex === e.modifyIndex) old.seen = this.generation;
          else pending.push([detachString(e.key), e.modifyIndex, e.vs < 0 ? null : detachString(buf.slice(e.vs, e.ve))]);
          pos = e.end;
        }
        carry = buf.slice(pos);
      },
      end: () => {
        if (failed) return undefined;
        if (fast) {
          let created = 0;
          for (const [key] of pending) if (this.held(key) === undefined) created += 1;
          if (count !== this.keys + created) return undefined; // something was deleted: read it in full
          this.startListing(listingIndex);
          for (const [key, idx, value] of pending) this.entry(diff, key, idx, () => value, true);
          this.lastListingIndex = listingIndex;
          this.listingMax = listingMax;
          this.forgetPointReads(listingIndex);
          return diff;
        }
        this.startListing(listingIndex);
        for (const [key, idx, value] of pending) this.entry(diff, key, idx, () => value, true);
        this.lastListingIndex = listingIndex;
        this.listingMax = listingMax;
        return this.end(diff, listingIndex);
      },
    };
  }

  private begin(fast = false): KvDiff<T> {
    this.generation += 1;
    if (!fast) this.maxIndex = 0;
    return { upserts: [], removed: [], invalid: [], examined: 0 };
  }

  /** Applies one entry (`value` gives its base64 text) of a listing, or of a point read (`fromListing` false). */
  private entry(diff: KvDiff<T>, key: string, modifyIndex: number, value: () => string | null, fromListing: boolean): void {
    if (modifyIndex > this.maxIndex) this.maxIndex = modifyIndex;
    const old = this.held(key);
    if (old && old.modifyIndex === modifyIndex) {
      old.seen = this.generation;
      return;
    }
    const rest = this.idPart(key);
    const pointRead = fromListing && rest !== undefined && this.pointReads.size > 0 ? this.pointReads.get(rest) : undefined;
    if (pointRead !== undefined && modifyIndex < pointRead) {
      // a listing older than a point read of this key: the read's record (or deletion) stands
      if (old) old.seen = this.generation;
      return;
    }
    if (rest === undefined || !this.isId(rest)) {
      if (!key.endsWith('/') && !old) diff.invalid.push({ key, problems: ['(key): not a valid id'] });
      if (old) {
        old.modifyIndex = modifyIndex;
        old.seen = this.generation;
      } else {
        this.odd.set(detachString(key), { modifyIndex, value: undefined, seen: this.generation });
      }
      return;
    }
    diff.examined += 1;
    const raw = value();
    const text = raw === null ? null : Buffer.from(raw, 'base64').toString('utf8');
    const decoded = this.decodeShared(text);
    let id = rest;
    let held = old;
    if (held === undefined) {
      id = detachString(rest);
      held = { modifyIndex, value: undefined, seen: this.generation };
      this.byId.set(id, held);
    }
    held.modifyIndex = modifyIndex;
    held.seen = this.generation;
    if (decoded.ok) {
      held.value = decoded.value;
      diff.upserts.push([id, decoded.value]);
    } else {
      diff.invalid.push({ key, problems: decoded.problems });
    }
  }

  private decodeShared(text: string | null): Decoded<T> {
    if (text === null) return this.decode(text);
    const known = this.decodedByText.get(text);
    if (known !== undefined) return { ok: true, value: known };
    const decoded = this.decode(text);
    if (decoded.ok) this.decodedByText.add(text, decoded.value);
    return decoded;
  }

  /** Removes what a full listing at `listingIndex` no longer holds (keys a newer point read found stay). */
  private end(diff: KvDiff<T>, listingIndex: number): KvDiff<T> {
    for (const [id, held] of this.byId) {
      if (held.seen === this.generation) continue;
      if (listingIndex > 0 && (this.pointReads.get(id) ?? 0) > listingIndex) continue;
      this.byId.delete(id);
      if (held.value !== undefined) diff.removed.push(id);
    }
    for (const [key, held] of this.odd) if (held.seen !== this.generation) this.odd.delete(key);
    this.forgetPointReads(listingIndex);
    return diff;
  }

  /** Point reads a listing at `listingIndex` has caught up with no longer need protecting. */
  private forgetPointReads(listingIndex: number): void {
    if (listingIndex <= 0) return;
    for (const [id, index] of this.pointReads) if (index <= listingIndex) this.pointReads.delete(id);
  }

  /** Every key's last good record, with its ModifyIndex. */
  records(): [string, T, number][] {
    return [...this.eachRecord()];
  }

  /**
   * The same records one at a time, read live: a consumer that pauses between records (the
   * router's snapshot writer) sees changes made meanwhile, as a Map iterator does.
   */
  *eachRecord(): Generator<[string, T, number]> {
    for (const [id, held] of this.byId) if (held.value !== undefined) yield [id, held.value, held.modifyIndex];
  }

  /** The highest ModifyIndex held (0 before the first listing). */
  get highestModifyIndex(): number {
    return this.maxIndex;
  }

  /** Number of keys with a good record. */
  get size(): number {
    let n = 0;
    for (const held of this.byId.values()) if (held.value !== undefined) n += 1;
    return n;
  }
}

const MODIFY_INDEX = '"ModifyIndex":';

/**
 * A copy of `s` that does not keep its parent alive: V8 makes `slice()` of a long string a view
 * on it, so a key sliced from a listing chunk would retain the whole chunk for as long as the
 * key lives.
 */
export function detachString(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

function skipWs(text: string, i: number): number {
  for (let c = text.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = text.charCodeAt(++i));
  return i;
}

/**
 * Reads the entry whose `"Key":` starts at `k`: Key, Value (base64 or null) and ModifyIndex, in
 * Consul's field order (Key, Flags, Value, [Session], CreateIndex, ModifyIndex), whitespace
 * allowed (Consul pretty-prints in dev mode). `incomplete` when the text ends inside the entry;
 * undefined when it is not in that shape (an escaped key, say).
 */
function readEntry(
  text: string,
  k: number,
): { key: string; modifyIndex: number; vs: number; ve: number; end: number } | 'incomplete' | undefined {
  const ks = skipWs(text, k + 6);
  if (ks >= text.length) return 'incomplete';
  if (text.charCodeAt(ks) !== 34) return undefined;
  const ke = text.indexOf('"', ks + 1);
  if (ke < 0) return 'incomplete';
  const key = text.slice(ks + 1, ke);
  if (key.includes('\\')) return undefined;
  const v = text.indexOf('"Value":', ke);
  if (v < 0) return 'incomplete';
  let vs = skipWs(text, v + 8);
  if (vs + 4 > text.length) return 'incomplete';
  let ve = -1;
  if (text.charCodeAt(vs) === 34) {
    vs += 1;
    ve = text.indexOf('"', vs);
    if (ve < 0) return 'incomplete';
  } else if (text.startsWith('null', vs)) {
    vs = -1;
  } else {
    return undefined;
  }
  const m = text.indexOf('"ModifyIndex":', ve < 0 ? v : ve);
  if (m < 0) return 'incomplete';
  const next = text.indexOf('"Key":', ks);
  if (next >= 0 && next < m) return undefined;
  let i = skipWs(text, m + 14);
  const d0 = i;
  let n = 0;
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) n = n * 10 + (c - 48);
  i = skipWs(text, i);
  if (i >= text.length) return 'incomplete';
  if (i === d0 || text.charCodeAt(i) !== 125 /* } */) return undefined;
  return { key, modifyIndex: n, vs, ve, end: i };
}
