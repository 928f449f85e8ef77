/**
 * Splits a set of KV key suffixes (market IDs) into shards that Consul can watch one by one:
 * a shard is either every key starting with `lead` or exactly the key `lead`. A recursive
 * blocking query on a prefix wakes only for changes under it, but answers all of it, so the
 * cost of one change is the size of its shard.
 *
 * The split is a trie walk: the largest prefix shard above `target` keys is replaced by one
 * shard per next character that occurs in it (plus an exact shard when the prefix itself is a
 * key), while the shard count stays within `max`. Shards never overlap, and every given key
 * is in exactly one shard; keys created later may fall outside every shard (the caller looks
 * for them).
 */

/** One shard: keys starting with `lead`, or (exact) the key `lead` alone. */
export interface KeyShard {
  lead: string;
  exact: boolean;
}

/** A stable name for a shard ('=' marks an exact shard). */
export function shardName(s: KeyShard): string {
  return s.exact ? `=${s.lead}` : s.lead;
}

/**
 * The partition of `keys` (below `from` keys: one shard, lead ''). `target`: split shards
 * larger than this; `max`: most shards.
 */
export function partitionKeys(keys: Iterable<string>, opts: { from: number; target: number; max: number }): KeyShard[] {
  const all = [...keys];
  if (all.length < opts.from || opts.max <= 1) return [{ lead: '', exact: false }];
  let groups: { lead: string; keys: string[] }[] = [{ lead: '', keys: all }];
  const exact: string[] = [];
  for (;;) {
    groups.sort((a, b) => b.keys.length - a.keys.length);
    const big = groups[0];
    if (big === undefined || big.keys.length <= opts.target) break;
    const children = new Map<string, string[]>();
    let self = false;
    for (const k of big.keys) {
      if (k.length === big.lead.length) {
        self = true;
        continue;
      }
      const p = k.slice(0, big.lead.length + 1);
      let list = children.get(p);
      if (!list) children.set(p, (list = []));
      list.push(k);
    }
    if (groups.length + exact.length - 1 + children.size + (self ? 1 : 0) > opts.max) break;
    if (self) exact.push(big.lead);
    groups = [...groups.slice(1), ...[...children].map(([lead, list]) => ({ lead, keys: list }))];
  }
  return [...groups.map((g) => ({ lead: g.lead, exact: false })), ...exact.map((lead) => ({ lead, exact: true }))];
}

/** Finds the shard of a key among a partition's shards. */
export class ShardIndex<T extends KeyShard> {
  private readonly prefixes = new Map<string, T>();
  private readonly exacts = new Map<string, T>();
  private readonly lengths: number[];

  constructor(shards: Iterable<T>) {
    for (const s of shards) (s.exact ? this.exacts : this.prefixes).set(s.lead, s);
    this.lengths = [...new Set([...this.prefixes.keys()].map((l) => l.length))].sort((a, b) => a - b);
  }

  /** The shard holding `key`, or undefined when no shard covers it. */
  find(key: string): T | undefined {
    const e = this.exacts.get(key);
    if (e !== undefined) return e;
    for (const l of this.lengths) {
      if (l > key.length) break;
      const s = this.prefixes.get(key.slice(0, l));
      if (s !== undefined) return s;
    }
    return undefined;
  }
}
