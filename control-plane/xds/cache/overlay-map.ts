/**
 * An immutable map made of a base map plus changes, so a new version of a 100,000-entry
 * resource map costs O(changes of that step) instead of a copy. Layers never stack: the
 * overlays derived one from the next share one root map and one change log, in which each
 * key keeps the values it took and the version that set each; an overlay reads the newest
 * value at or below its own version. Making the next version only appends the step's
 * changes to the log (copying the changes accumulated so far, as this map once did, made a
 * move at 100,000 markets cost up to `compactAt` entries). Deriving from an overlay that is
 * not the newest of its line copies the log up to its version (rare: the builder and the
 * feed always derive from their newest). Once the log holds more than `compactAt` changes
 * and more than a quarter of the root's size, the result is compacted into a plain Map: a
 * walk of the map at most once per n/4 changes, so at most 4 entries per change whatever n.
 */

/** One value a key took, and the version of the line that set it (undefined value = deleted). */
interface Change<V> {
  readonly at: number;
  readonly value: V | undefined;
}

/** The change history shared by one line of overlays over the same root. */
class ChangeLog<K, V> {
  /** key → its changes, oldest first. */
  readonly history = new Map<K, Change<V>[]>();
  /** Changes held, over all keys. */
  entries = 0;
  /** The newest version of the line. */
  head = 0;
}

export class OverlayMap<K, V> implements ReadonlyMap<K, V> {
  readonly size: number;

  private constructor(
    private readonly root: ReadonlyMap<K, V>,
    private readonly log: ChangeLog<K, V>,
    /** This overlay sees the log's changes made at or below this version. */
    private readonly version: number,
    size: number,
  ) {
    this.size = size;
  }

  /** `base` with `changes` applied (undefined = delete); a plain Map once the log outgrows `compactAt` and a quarter of the root. */
  static of<K, V>(base: ReadonlyMap<K, V>, changes: ReadonlyMap<K, V | undefined>, compactAt = 5000): ReadonlyMap<K, V> {
    let root = base;
    let log = new ChangeLog<K, V>();
    if (base instanceof OverlayMap) {
      const b = base as OverlayMap<K, V>;
      root = b.root;
      log = b.version === b.log.head ? b.log : b.logUpToVersion();
    }
    if (changes.size === 0) return new OverlayMap<K, V>(root, log, log.head, base.size);
    const version = log.head + 1;
    let size = base.size;
    for (const [k, v] of changes) {
      const had = base.has(k);
      if (v === undefined && had) size -= 1;
      else if (v !== undefined && !had) size += 1;
    }
    for (const [k, v] of changes) {
      const h = log.history.get(k);
      if (h === undefined) log.history.set(k, [{ at: version, value: v }]);
      else h.push({ at: version, value: v });
    }
    log.entries += changes.size;
    log.head = version;
    const overlay = new OverlayMap<K, V>(root, log, version, size);
    return log.entries > Math.max(compactAt, root.size / 4) ? new Map(overlay) : overlay;
  }

  /** A new log holding only the changes this overlay sees (for deriving from an older version). */
  private logUpToVersion(): ChangeLog<K, V> {
    const log = new ChangeLog<K, V>();
    for (const [k, h] of this.log.history) {
      const kept = h.filter((c) => c.at <= this.version);
      if (kept.length === 0) continue;
      log.history.set(k, kept);
      log.entries += kept.length;
    }
    log.head = this.version;
    return log;
  }

  /** The change of `key` this overlay sees, if any. */
  private changeOf(key: K): Change<V> | undefined {
    const h = this.log.history.get(key);
    if (h === undefined) return undefined;
    for (let i = h.length - 1; i >= 0; i--) if (h[i]!.at <= this.version) return h[i];
    return undefined;
  }

  get(key: K): V | undefined {
    const c = this.changeOf(key);
    return c !== undefined ? c.value : this.root.get(key);
  }

  has(key: K): boolean {
    const c = this.changeOf(key);
    return c !== undefined ? c.value !== undefined : this.root.has(key);
  }

  *entries(): MapIterator<[K, V]> {
    for (const [k, v] of this.root) if (this.changeOf(k) === undefined) yield [k, v];
    for (const k of this.log.history.keys()) {
      const c = this.changeOf(k);
      if (c?.value !== undefined) yield [k, c.value];
    }
  }

  *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}
