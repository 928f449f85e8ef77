/**
 * The cell-loss drill's order check: the load's acknowledged creates (vegeta's results, with the
 * time each answer came) against the markets' listings after the recovery. An order acknowledged
 * before the recovery point was committed before the backup copy started, so it must be there;
 * one acknowledged between the recovery point and the recovery is at risk (counted, not judged);
 * every other order (other cells' markets, or after the recovery) must be there too.
 */
import { countOrders, type CreatedOrder, type MarketListing } from '../soak/orders.js';
import { NO_DATA, type Verdict } from '../verdicts.js';

/** What the drill measured of the loss and the recovery (epoch ms). */
export interface LossFacts {
  /** The lost cell's markets, moved by the recovery. */
  recovered: string[];
  /** Every write committed before this instant is in the copy (the recovery report's `recoveryPoint`). */
  recoveryPoint: number;
  /** When the cell was killed and its data directory removed. */
  lossAt: number;
  /** When `evacuate --from-backup` returned. */
  recoveredAt: number;
}

/** The comparison on one plane's listings. */
export interface LossCount {
  /** Created orders (201) of the recovered markets acknowledged before the recovery point. */
  safe: number;
  lostSafe: number;
  /** Created orders of the recovered markets acknowledged from the recovery point until the recovery. */
  atRisk: number;
  lostAtRisk: number;
  /** Every other created order (other markets, or after the recovery). */
  kept: number;
  lostKept: number;
  duplicated: number;
  unchecked: string[];
  examples: { lostSafe: string[]; lostKept: string[]; duplicated: string[] };
}

/** Counts lost and duplicated orders of one plane's listings. */
export function countLoss(created: readonly CreatedOrder[], listings: readonly MarketListing[], f: LossFacts): LossCount {
  // Duplicates and unreadable listings exactly as the soak counts them.
  const base = countOrders(created, listings);
  // A listing that failed or came from another cell than the owner finds nothing (as in countOrders).
  const found = new Map(listings.filter((l) => !l.error && l.answeredBy === l.owner).map((l) => [l.market, new Set(l.ids)]));
  const out: LossCount = {
    safe: 0,
    lostSafe: 0,
    atRisk: 0,
    lostAtRisk: 0,
    kept: 0,
    lostKept: 0,
    duplicated: base.duplicated,
    unchecked: base.unchecked,
    examples: { lostSafe: [], lostKept: [], duplicated: base.examples.duplicated },
  };
  const recovered = new Set(f.recovered);
  const seen = new Set<string>();
  for (const o of created) {
    if (o.status !== 201 || seen.has(o.id)) continue;
    seen.add(o.id);
    const there = found.get(o.market)?.has(o.id) === true;
    const name = `${o.id} (${o.market}, acknowledged ${new Date(o.ackedAt).toISOString()})`;
    if (recovered.has(o.market) && o.ackedAt < f.recoveryPoint) {
      out.safe++;
      if (!there && ++out.lostSafe <= 5) out.examples.lostSafe.push(name);
    } else if (recovered.has(o.market) && o.ackedAt < f.recoveredAt) {
      out.atRisk++;
      if (!there) out.lostAtRisk++;
    } else {
      out.kept++;
      if (!there && ++out.lostKept <= 5) out.examples.lostKept.push(name);
    }
  }
  return out;
}

const eg = (xs: string[]) => (xs.length ? ` (e.g. ${xs.join(', ')})` : '');

/** The order verdicts of one plane. */
export function lossVerdicts(c: LossCount, plane: string): Verdict[] {
  const unchecked = c.unchecked.length ? `; unchecked: ${c.unchecked.slice(0, 3).join('; ')}` : '';
  return [
    {
      name: `orders acknowledged before the recovery point survive (${plane})`,
      pass: c.safe > 0 && c.lostSafe === 0,
      measured:
        c.safe === 0
          ? `${NO_DATA} (no create acknowledged before the recovery point)`
          : `${c.lostSafe} of ${c.safe} lost${eg(c.examples.lostSafe)}${unchecked}`,
      threshold: '0',
    },
    {
      name: `orders of other markets, or after the recovery, survive (${plane})`,
      pass: c.kept > 0 && c.lostKept === 0,
      measured: c.kept === 0 ? `${NO_DATA} (no such create)` : `${c.lostKept} of ${c.kept} lost${eg(c.examples.lostKept)}${unchecked}`,
      threshold: '0',
    },
    {
      name: `orders duplicated (${plane})`,
      pass: c.safe + c.kept > 0 && c.duplicated === 0,
      measured: c.safe + c.kept === 0 ? NO_DATA : `${c.duplicated}${eg(c.examples.duplicated)}`,
      threshold: '0',
    },
  ];
}
