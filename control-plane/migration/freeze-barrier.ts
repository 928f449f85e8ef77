/**
 * The freeze barrier of a migration (docs/operators.md §Online migration): after the market record
 * says `frozen`, the source cell is frozen only once every live data plane confirms it holds the
 * market (a router's table shows it frozen with none of its requests still on their way to the
 * cell; the Envoys ACKed routes with it frozen). Each plane is asked again until it confirms or
 * the bound passes; what is still unconfirmed then is returned, and the migration rolls back
 * instead of freezing the cell blind.
 */

/** A plane's answer: holds the market, or why not (yet). */
export type PlaneAnswer = { held: true; note?: string } | { held: false; why: string };

/** One data plane a freeze waits for: a router instance, or the Envoys of this xDS server. */
export interface Plane {
  /** `router router-1`, `envoys`: named in the error when it does not confirm. */
  name: string;
  /** Asks the plane once; `timeoutMs` bounds the question. */
  check(timeoutMs: number): Promise<PlaneAnswer>;
  /**
   * Asks once whether the plane can be heard at all (it answers, its view loaded), before the
   * freeze: `held: true` when reachable. None: always reachable.
   */
  reach?(timeoutMs: number): Promise<PlaneAnswer>;
}

/** What a frozen market's record says: the source cell and the market's epoch. */
export interface FrozenWant {
  cell: string;
  epoch: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LAST_ROUND_MS = 50;

/**
 * Asks every plane until each confirmed, within `boundMs`; resolves with the unconfirmed ones
 * (`name: why`), empty when all confirmed. A confirmed plane is not asked again. A check that
 * throws counts as unconfirmed with its message.
 */
export async function freezeBarrier(planes: readonly Plane[], boundMs: number, pollMs = 5, askMs = 1000): Promise<string[]> {
  const pending = new Map(planes.map((p) => [p.name, p]));
  const why = new Map<string, string>();
  const deadline = performance.now() + boundMs;
  for (;;) {
    await Promise.all(
      [...pending.values()].map(async (p) => {
        const left = Math.max(1, Math.floor(Math.min(askMs, deadline - performance.now())));
        const a = await p.check(left).catch((err: Error): PlaneAnswer => ({ held: false, why: err.message }));
        if (a.held) pending.delete(p.name);
        else why.set(p.name, a.why);
      }),
    );
    if (pending.size === 0) return [];
    // No new round in the bound's last 50 ms: its truncated question would only replace the last
    // real reason by a timeout of a few ms.
    if (performance.now() >= deadline - LAST_ROUND_MS) return [...pending.keys()].map((n) => `${n}: ${why.get(n) ?? 'no answer'}`);
    await sleep(pollMs);
  }
}

/**
 * One round of the reach check before a freeze (docs/operators.md §Waiting for the data planes):
 * every plane's `reach`, at once; resolves with the unreachable ones (`name: why`), empty when
 * every plane can be heard. A check that throws counts as unreachable with its message.
 */
export async function unreachable(planes: readonly Plane[], askMs = 1000): Promise<string[]> {
  const answers = await Promise.all(
    planes.map(async (p) => {
      const a: PlaneAnswer = p.reach
        ? await p.reach(askMs).catch((err: Error): PlaneAnswer => ({ held: false, why: err.message }))
        : { held: true };
      return a.held ? undefined : `${p.name}: ${a.why}`;
    }),
  );
  return answers.filter((a) => a !== undefined);
}
