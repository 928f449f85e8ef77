/**
 * Sabotage switches: a drill run broken on purpose, whose verdict must then FAIL (a drill that
 * cannot fail proves nothing). Each drill lists the switches that apply to it; any other is
 * refused before the run starts, never silently ignored.
 */
import type { Drill, DrillOptions, Sabotage } from './types.js';

/** The command-line flag of each switch. */
export const SABOTAGE_FLAGS: Record<Sabotage, string> = {
  faultEveryCell: '--fault-every-cell',
  faultNeverStarts: '--fault-never-starts',
  routerOneCell: '--router-one-cell',
  routerIsolationOff: '--router-isolation-off',
  staleBackup: '--stale-backup',
  faultNeverEnds: '--fault-never-ends',
};

/** The switches that replace the router plane by a sabotaged extra router (drills/router-sabotage.ts). */
export const ROUTER_SABOTAGE: readonly Sabotage[] = ['routerOneCell', 'routerIsolationOff'];

/** Throws when `opts` asks for a sabotage switch that `drill` does not apply. */
export function assertSabotageApplies(drill: Pick<Drill, 'name' | 'sabotage'>, opts: DrillOptions): void {
  const accepted = drill.sabotage ?? [];
  for (const s of Object.keys(SABOTAGE_FLAGS) as Sabotage[]) {
    if (!opts[s] || accepted.includes(s)) continue;
    const takes = accepted.length ? `it takes ${accepted.map((a) => SABOTAGE_FLAGS[a]).join(', ')}` : 'it takes no sabotage switch';
    throw new Error(`${SABOTAGE_FLAGS[s]} does not apply to drill ${drill.name} (${takes})`);
  }
  const routerSwitches = ROUTER_SABOTAGE.filter((s) => opts[s]).map((s) => SABOTAGE_FLAGS[s]);
  if (routerSwitches.length > 1) throw new Error(`${routerSwitches.join(' and ')} are separate runs (one sabotaged router each)`);
  if (routerSwitches.length && !opts.planes.includes('router')) {
    throw new Error(`${routerSwitches.join('')} sabotages the router plane: the run must drive it (--plane router or both)`);
  }
}
