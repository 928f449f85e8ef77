/**
 * A bounded table of shared, never-mutated values by key: callers that hold many equal values
 * (a market record per market at 100,000 markets) keep one object per distinct key instead of
 * one per holder. Past max(1,024, `bound()`) entries the table starts over: that costs sharing
 * (entries of values no longer in use go), never correctness.
 */
export class SharedValues<T> {
  private readonly values = new Map<string, T>();

  /** @param bound the number of holders (the table grows up to the larger of it and 1,024) */
  constructor(private readonly bound: () => number) {}

  /** The shared value of `key`, if any. */
  get(key: string): T | undefined {
    return this.values.get(key);
  }

  /** Shares `value` under `key` and returns it. */
  add(key: string, value: T): T {
    if (this.values.size >= Math.max(1024, this.bound())) this.values.clear();
    this.values.set(key, value);
    return value;
  }
}
