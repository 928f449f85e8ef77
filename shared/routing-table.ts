/**
 * The routing model both data planes share: market → cell → endpoints, built from Consul KV
 * (cells/, markets/) and the passing `cellsim-cell` instances. Invalid values never replace
 * a last good entry; they are reported so callers can log and count them.
 */
import { CellRecordSchema, MarketRecordSchema, decodeJson, type CellRecord, type KvLayout, type MarketRecord } from './kv.js';

/** One passing instance of a cell. */
export interface Endpoint {
  /** Consul service ID. */
  id: string;
  cell: string;
  address: string;
  port: number;
  version: string;
  color: 'blue' | 'green';
  /**
   * Relative weight while the cell's traffic is shifted between colors (the cell record's `shift`):
   * each plane sends an endpoint its weight's share of the cell's requests. Undefined: even.
   */
  weight?: number;
}

/** A KV entry as Consul returns it (Value base64-decoded to text). */
export interface KvEntry {
  key: string;
  value: string | null;
  modifyIndex: number;
}

/** A value that failed validation and was ignored. */
export interface InvalidEntry {
  key: string;
  problems: string[];
}

/** An immutable routing table. */
export interface RoutingTable {
  readonly markets: ReadonlyMap<string, MarketRecord>;
  readonly cells: ReadonlyMap<string, CellRecord>;
  /** Passing endpoints of each cell's active color. */
  readonly endpoints: ReadonlyMap<string, readonly Endpoint[]>;
  /** The cell serving `/v1/global/`, if any cell is marked global. */
  readonly globalCell: string | undefined;
}

/** An empty table. */
export const EMPTY_TABLE: RoutingTable = {
  markets: new Map(),
  cells: new Map(),
  endpoints: new Map(),
  globalCell: undefined,
};

/**
 * Decodes a full listing of one KV prefix into records. A key whose value is invalid keeps
 * its entry from `previous` (the last good value) and is reported in `invalid`.
 */
export function decodeRecords<T>(
  entries: readonly KvEntry[],
  keyToId: (key: string) => string | undefined,
  decode: (text: string | null) => ReturnType<typeof decodeJson<T>>,
  previous: ReadonlyMap<string, T>,
): { records: Map<string, T>; invalid: InvalidEntry[] } {
  const records = new Map<string, T>();
  const invalid: InvalidEntry[] = [];
  for (const entry of entries) {
    const id = keyToId(entry.key);
    if (id === undefined) {
      if (!entry.key.endsWith('/')) invalid.push({ key: entry.key, problems: ['(key): not a valid id'] });
      continue;
    }
    const decoded = decode(entry.value);
    if (decoded.ok) {
      records.set(id, decoded.value);
    } else {
      invalid.push({ key: entry.key, problems: decoded.problems });
      const last = previous.get(id);
      if (last !== undefined) records.set(id, last);
    }
  }
  return { records, invalid };
}

/** Decodes `cells/` entries (see {@link decodeRecords}); also checks that the record's id matches its key. */
export function decodeCells(layout: KvLayout, entries: readonly KvEntry[], previous: ReadonlyMap<string, CellRecord>) {
  return decodeRecords<CellRecord>(
    entries,
    (k) => layout.cellFromKey(k),
    (text) => decodeJson(CellRecordSchema, text),
    previous,
  );
}

/** Decodes `markets/` entries (see {@link decodeRecords}). */
export function decodeMarkets(layout: KvLayout, entries: readonly KvEntry[], previous: ReadonlyMap<string, MarketRecord>) {
  return decodeRecords<MarketRecord>(
    entries,
    (k) => layout.marketFromKey(k),
    (text) => decodeJson(MarketRecordSchema, text),
    previous,
  );
}

/**
 * Orders endpoints by ID in code-unit order: deterministic and locale-free (`localeCompare` loads
 * ICU's collation data, ~2.6 MB of the node binary paged in per process, to sort ASCII IDs).
 */
export function byEndpointId(a: Endpoint, b: Endpoint): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Keeps only the endpoints a cell should receive traffic on: its active color (or all, when none
 * is set); under a shift, both colors, weighted (see {@link shiftWeights}).
 */
export function activeEndpoints(cells: ReadonlyMap<string, CellRecord>, all: readonly Endpoint[]): Map<string, Endpoint[]> {
  const byCell = new Map<string, Endpoint[]>();
  for (const ep of all) {
    const cell = cells.get(ep.cell);
    const shifted = cell?.shift !== undefined && cell.activeColor !== undefined && cell.shift.color !== cell.activeColor;
    if (cell?.activeColor !== undefined && cell.activeColor !== ep.color && !(shifted && ep.color === cell.shift?.color)) continue;
    let list = byCell.get(ep.cell);
    if (!list) byCell.set(ep.cell, (list = []));
    list.push(ep);
  }
  for (const [id, list] of byCell) {
    list.sort(byEndpointId);
    const cell = cells.get(id);
    if (cell?.shift && cell.activeColor !== undefined && cell.shift.color !== cell.activeColor) {
      byCell.set(id, shiftWeights(list, cell.activeColor, cell.shift.color, cell.shift.percent));
    }
  }
  return byCell;
}

/**
 * Integer weights that give the `to` color's endpoints `percent` % of a cell's requests and the
 * `from` color's the rest, each color's share split evenly among its endpoints: an endpoint of
 * `to` weighs `percent × n(from)`, one of `from` `(100 − percent) × n(to)` (Envoy takes integer
 * weights of at least 1, so percent is rounded to hundredths and a color at 0 is left out). No
 * endpoint of `to` leaves `from` all the traffic, unweighted. No passing endpoint of `from` (the
 * active color flapping, e.g. while the new color's process starts beside it) gives none at all:
 * the cell then has no passing instance and each plane keeps its last passing ones (router
 * `CellGuard`, xDS `panic-endpoints.ts`), so `to` never takes the whole cell's traffic by default.
 */
export function shiftWeights(list: readonly Endpoint[], from: 'blue' | 'green', to: 'blue' | 'green', percent: number): Endpoint[] {
  const p = Math.round(Math.min(100, Math.max(0, percent)) * 100);
  const olds = list.filter((e) => e.color === from);
  const news = list.filter((e) => e.color === to);
  if (news.length === 0 || p === 0) return olds;
  if (p === 10_000) return news;
  if (olds.length === 0) return [];
  return list
    .filter((e) => e.color === from || e.color === to)
    .map((e) => ({ ...e, weight: e.color === to ? p * olds.length : (10_000 - p) * news.length }));
}

/** The cell marked global (the lowest ID if several are), or undefined. */
export function findGlobalCell(cells: ReadonlyMap<string, CellRecord>): string | undefined {
  let found: string | undefined;
  for (const [id, rec] of cells) if (rec.global && (found === undefined || id < found)) found = id;
  return found;
}

/** One color's share of a shifted cell's requests: the summed weight of its endpoints, relative to the other color's. */
export interface ColorWeight {
  color: 'blue' | 'green';
  weight: number;
}

/**
 * How a weighted endpoint list (a shift, {@link shiftWeights}) splits a cell's requests between
 * its colors: each color's summed weight, both divided by their greatest common divisor, blue
 * first. Undefined when the list is not split between two colors (no weights, or one color only).
 * Both planes draw the color by these shares first and an endpoint of it second, so a color whose
 * every endpoint a plane has ejected keeps its share rather than handing it to the other color.
 */
export function colorWeights(list: readonly Endpoint[]): ColorWeight[] | undefined {
  let blue = 0;
  let green = 0;
  for (const ep of list) {
    if (ep.weight === undefined) return undefined;
    if (ep.color === 'blue') blue += ep.weight;
    else green += ep.weight;
  }
  if (blue === 0 || green === 0) return undefined;
  const d = gcd(blue, green);
  return [
    { color: 'blue', weight: blue / d },
    { color: 'green', weight: green / d },
  ];
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** One endpoint drawn at random in proportion to its weight (undefined counts 1). */
export function weightedPick(list: readonly Endpoint[], random: () => number = Math.random): Endpoint | undefined {
  let total = 0;
  for (const ep of list) total += ep.weight ?? 1;
  let x = random() * total;
  for (const ep of list) {
    x -= ep.weight ?? 1;
    if (x < 0) return ep;
  }
  return list[list.length - 1];
}
