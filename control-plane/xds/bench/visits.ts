/**
 * Counts the Map and Set entries visited while a function runs: every entry produced by
 * iterating any Map or Set (for..of, spread, `new Map(map)`, keys/values/entries, forEach,
 * and so every OverlayMap walk, which iterates its root Map). A step that is O(markets)
 * almost always walks some collection of markets, so this count tells an O(1) build from an
 * O(n) one exactly, where a wall-clock time on a busy machine could not. Test kit only: it
 * swaps the built-in iterators for counting ones while `fn` runs.
 */

/** What one counted run visited. */
export interface Visits {
  /** Entries produced by iterating Maps and Sets. */
  entries: number;
  /** Size of the largest Map or Set an iteration was started on. */
  largest: number;
}

type Iterating = { size: number };
const METHODS = ['entries', 'keys', 'values', Symbol.iterator] as const;

/** Runs `fn` with Map and Set iteration counted; returns its result and the counts. */
export function countVisits<T>(fn: () => T): { result: T; visits: Visits } {
  const visits: Visits = { entries: 0, largest: 0 };
  const restore: (() => void)[] = [];
  const patch = (proto: object, key: string | symbol, wrap: (orig: (...args: unknown[]) => unknown) => unknown) => {
    const desc = Object.getOwnPropertyDescriptor(proto, key)!;
    const orig = desc.value as (...args: unknown[]) => unknown;
    Object.defineProperty(proto, key, { ...desc, value: wrap(orig) });
    restore.push(() => Object.defineProperty(proto, key, desc));
  };
  for (const proto of [Map.prototype, Set.prototype]) {
    for (const key of METHODS) {
      patch(
        proto,
        key,
        (orig) =>
          function (this: Iterating) {
            visits.largest = Math.max(visits.largest, this.size);
            const it = orig.call(this) as Iterator<unknown>;
            const counted = {
              next() {
                const r = it.next();
                if (!r.done) visits.entries += 1;
                return r;
              },
              [Symbol.iterator]() {
                return counted;
              },
            };
            return counted;
          },
      );
    }
    patch(
      proto,
      'forEach',
      (orig) =>
        function (this: Iterating, cb: (...args: unknown[]) => void, thisArg?: unknown) {
          visits.largest = Math.max(visits.largest, this.size);
          return orig.call(
            this,
            (...args: unknown[]) => {
              visits.entries += 1;
              cb.apply(thisArg, args);
            },
            thisArg,
          );
        },
    );
  }
  try {
    return { result: fn(), visits };
  } finally {
    for (const r of restore.reverse()) r();
  }
}
