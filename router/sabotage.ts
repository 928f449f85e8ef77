/**
 * Drill sabotage of a router process: the hidden `--drill-sabotage <kind>` option of
 * `cellctl router`, used only by `cellctl drill` on an extra router replica it starts itself
 * (loadtest/drills/router-sabotage.ts), so that a drill's verdicts are shown able to FAIL. It
 * never appears in `--help`, is never read from a CELLSIM_* variable (shared/cli.ts skips hidden
 * options), and a sabotaged router does not register in Consul, so no client can discover it.
 */
import { InvalidArgumentError } from 'commander';
import type { RouterOptions } from './main.js';

/** What a sabotaged router does wrong. */
export type DrillSabotage =
  /** Every market is routed to `cell`, whoever owns it (the wrong-cell verdict must fail). */
  | { kind: 'one-cell'; cell: string }
  /** Hang isolation off: a hung cell is never cut off, its requests wait (time to isolate must fail). */
  | { kind: 'isolation-off' };

/** Parses `one-cell=<cell>` or `isolation-off` (commander argument parser). */
export function parseDrillSabotage(value: string): DrillSabotage {
  if (value === 'isolation-off') return { kind: 'isolation-off' };
  const m = /^one-cell=([A-Za-z0-9._-]+)$/.exec(value);
  if (m?.[1] !== undefined) return { kind: 'one-cell', cell: m[1] };
  throw new InvalidArgumentError(`'${value}' is not a drill sabotage (one-cell=<cell>, isolation-off)`);
}

/** The router options of a sabotaged router: `opts` with the sabotage applied, never registered in Consul. */
export function withDrillSabotage(opts: RouterOptions, s: DrillSabotage): RouterOptions {
  const out: RouterOptions = { ...opts, register: false };
  if (s.kind === 'one-cell') out.routeEveryMarketTo = s.cell;
  else out.isolation = { ...opts.isolation, stallMs: 0 };
  return out;
}
