/**
 * Splits by a hash of a request key. A/B experiments (docs/experiments.md): a market record's
 * `experiment` sends the requests whose key header hashes into the first `percent` % of buckets to
 * the variant color of the owning cell, the other keyed requests to its active color. Market moves
 * by share (docs/weighted-shifts.md): its `shareMove` sends such requests to another cell. Both
 * planes apply this one rule: the router here, Envoy in the Lua twin of {@link fnv1a32}
 * (control-plane/xds/resources/experiment.ts), both checked against the same vectors
 * (shared/experiment.test.ts).
 */
import type { CellRecord, MarketRecord } from './kv.js';
import type { Endpoint } from './routing-table.js';

/** Buckets of the split: a percent is honoured to hundredths. */
export const EXPERIMENT_BUCKETS = 10_000;

/** The experiment of a market record, as the schema declares it. */
export type Experiment = NonNullable<MarketRecord['experiment']>;

/**
 * 32-bit FNV-1a over the UTF-8 bytes of `text`. Hand-written (six lines) rather than taken from
 * npm: Envoy must compute the very same function in Lua, and the two are kept side by side.
 */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The bucket (0 .. 9,999) of a key value. */
export function experimentBucket(value: string): number {
  return fnv1a32(value) % EXPERIMENT_BUCKETS;
}

/** Buckets below this go to the variant color: the percent in hundredths. */
export function experimentThreshold(percent: number): number {
  return Math.round(Math.min(100, Math.max(0, percent)) * 100);
}

/**
 * Whether the experiment applies on `cell`: it names the other color than the active one (an
 * experiment on the active color, or on a cell without one, splits nothing).
 */
export function experimentLive(exp: Experiment | undefined, cell: CellRecord | undefined): exp is Experiment {
  return exp !== undefined && cell?.activeColor !== undefined && cell.activeColor !== exp.color;
}

/**
 * The key of a request: the header's value when sent exactly once and non-empty, else undefined
 * (the request then goes where the market's other requests go: the active color).
 */
export function experimentKey(value: string | string[] | undefined): string | undefined {
  if (Array.isArray(value)) return value.length === 1 && value[0] !== '' ? value[0] : undefined;
  return value === undefined || value === '' ? undefined : value;
}

/** The variant a key lands on: `'variant'` (the experiment's color) or `'control'` (the active color). */
export function experimentArm(exp: Experiment, key: string): 'variant' | 'control' {
  return experimentBucket(key) < experimentThreshold(exp.percent) ? 'variant' : 'control';
}

/** The share move of a market record, as the schema declares it. */
export type ShareMove = NonNullable<MarketRecord['shareMove']>;

/**
 * The cell a market's share move sends its keyed share to, or undefined when the move splits
 * nothing: no `shareMove`, the market frozen (held whole, as any frozen market), or the target
 * unable to serve: missing from `cells/`, `down`, or without a passing instance in `passing` (each
 * plane's passing endpoints by cell; omitted: not checked). The share then stays on `cell`: an
 * operator's move never turns into a 5xx because its target is gone.
 */
export function shareMoveTarget(
  rec: MarketRecord,
  cells: ReadonlyMap<string, CellRecord>,
  passing?: ReadonlyMap<string, readonly Endpoint[]>,
): string | undefined {
  const sm = rec.shareMove;
  if (sm === undefined || rec.state !== 'active' || sm.to === rec.cell) return undefined;
  const to = cells.get(sm.to);
  if (to === undefined || to.state === 'down') return undefined;
  if (passing !== undefined && (passing.get(sm.to)?.length ?? 0) === 0) return undefined;
  return sm.to;
}

/** Whether a keyed request of a share move goes to the target cell: its bucket is below the percent's threshold. */
export function shareMoveTakes(sm: ShareMove, key: string): boolean {
  return experimentBucket(key) < experimentThreshold(sm.percent);
}
