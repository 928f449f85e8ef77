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
};

/** Throws when `opts` asks for a sabotage switch that `drill` does not apply. */
export function assertSabotageApplies(drill: Pick<Drill, 'name' | 'sabotage'>, opts: DrillOptions): void {
  const accepted = drill.sabotage ?? [];
  for (const s of Object.keys(SABOTAGE_FLAGS) as Sabotage[]) {
    if (!opts[s] || accepted.includes(s)) continue;
    const takes = accepted.length ? `it takes ${accepted.map((a) => SABOTAGE_FLAGS[a]).join(', ')}` : 'it takes no sabotage switch';
    throw new Error(`${SABOTAGE_FLAGS[s]} does not apply to drill ${drill.name} (${takes})`);
  }
}
