/**
 * The seeded market map: a few dozen realistic market IDs (metro areas), weighted unevenly like
 * real traffic. cell-0, the canary, gets a few small markets; the rest are dealt round-robin by
 * weight so every other cell carries a mix of big and small markets.
 */

/** A market with its share of traffic (weights are relative). */
export interface SeedMarket {
  id: string;
  weight: number;
}

/** The default markets, heaviest first. */
export const DEFAULT_MARKETS: SeedMarket[] = [
  ['nyc', 40],
  ['la', 32],
  ['sf', 28],
  ['chicago', 22],
  ['houston', 16],
  ['dallas', 15],
  ['seattle', 14],
  ['boston', 13],
  ['atlanta', 12],
  ['miami', 11],
  ['phoenix', 9],
  ['denver', 9],
  ['dc', 9],
  ['philadelphia', 8],
  ['san-diego', 7],
  ['austin', 7],
  ['portland', 6],
  ['minneapolis', 5],
  ['las-vegas', 5],
  ['detroit', 4],
  ['nashville', 4],
  ['charlotte', 4],
  ['toronto', 6],
  ['vancouver', 3],
  ['sacramento', 3],
  ['pittsburgh', 3],
  ['columbus', 3],
  ['raleigh', 2],
  ['salt-lake-city', 2],
  ['kansas-city', 2],
  ['new-orleans', 2],
  ['tampa', 2],
  ['boise', 1],
  ['anchorage', 1],
  ['honolulu', 1],
  ['albuquerque', 1],
].map(([id, weight]) => ({ id: id as string, weight: weight as number }));

/** Deals markets to cells: the `canaryMarkets` lightest go to the canary, the rest round-robin by weight. */
export function assignMarkets(markets: SeedMarket[], cells: string[], canary: string, canaryMarkets = 3): Map<string, string> {
  const out = new Map<string, string>();
  const sorted = [...markets].sort((a, b) => b.weight - a.weight || a.id.localeCompare(b.id));
  const others = cells.filter((c) => c !== canary);
  const small = others.length ? sorted.slice(-canaryMarkets) : sorted;
  for (const m of small) out.set(m.id, canary);
  const rest = sorted.filter((m) => !out.has(m.id));
  const load = new Map(others.map((c) => [c, 0]));
  for (const m of rest) {
    const target = [...load.entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))[0]![0];
    out.set(m.id, target);
    load.set(target, load.get(target)! + m.weight);
  }
  return out;
}
