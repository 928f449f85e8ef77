/**
 * An immutable map made of a base map plus a small set of changes, so a new version of a
 * 100,000-entry resource map costs O(changes) instead of a copy. Layers never stack: an
 * overlay of an overlay reuses the same base and merges the (small) change sets, and is
 * compacted into a plain map once the changes grow past `compactAt`.
 */
export class OverlayMap<K, V> implements ReadonlyMap<K, V> {
  readonly size: number;

  private constructor(
    private readonly base: ReadonlyMap<K, V>,
    /** key → value, or undefined for a deletion. */
    private readonly changes: ReadonlyMap<K, V | undefined>,
    size: number,
  ) {
    this.size = size;
  }

  /** `base` with `changes` applied (undefined = delete); compacts into a plain Map past `compactAt` changes. */
  static of<K, V>(base: ReadonlyMap<K, V>, changes: ReadonlyMap<K, V | undefined>, compactAt = 5000): ReadonlyMap<K, V> {
    let root = base;
    let merged: Map<K, V | undefined> = new Map(changes);
    if (base instanceof OverlayMap) {
      const b = base as OverlayMap<K, V>;
      root = b.base;
      merged = new Map(b.changes);
      for (const [k, v] of changes) merged.set(k, v);
    }
    let size = root.size;
    for (const [k, v] of merged) {
      const inRoot = root.has(k);
      if (v === undefined && inRoot) size -= 1;
      else if (v !== undefined && !inRoot) size += 1;
    }
    const overlay = new OverlayMap<K, V>(root, merged, size);
    return merged.size > compactAt ? new Map(overlay) : overlay;
  }

  get(key: K): V | undefined {
    return this.changes.has(key) ? this.changes.get(key) : this.base.get(key);
  }

  has(key: K): boolean {
    return this.changes.has(key) ? this.changes.get(key) !== undefined : this.base.has(key);
  }

  *entries(): MapIterator<[K, V]> {
    for (const [k, v] of this.base) if (!this.changes.has(k)) yield [k, v];
    for (const [k, v] of this.changes) if (v !== undefined) yield [k, v];
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
