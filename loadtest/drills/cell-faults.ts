/**
 * Cell drills: one cell fails (crash, latency, errors, hang, slow database) and every other
 * cell's markets must not notice. cell-crash kills the process through the supervisor and keeps
 * it down for the window; the others use the cell's own fault API. Each is held to a positive
 * control too: the faulted cell must show the fault, or the run proves nothing.
 */
import type { CellFault } from '../env/types.js';
import type { Expectations, FailureGate, FaultObserved } from '../verdicts.js';
import type { Drill, DrillContext, DrillOptions, Sabotage } from './types.js';

/** Isolation targets of issue 7: ≤ 1 s through the router, ≤ 5 s through Envoy (fixed numbers). */
export const ISOLATE_MS = { router: 1000, envoy: 5000 };

/**
 * Positive control of a fault that makes the cell's requests fail (errors, crash, hang): at least
 * half of its requests in the window failed, on each plane (docs/drills.md says why half).
 */
export const FAILS_OBSERVED: FaultObserved = { minFailedShare: 0.5 };

/** The sabotage switches every cell drill applies. */
export const CELL_SABOTAGE: readonly Sabotage[] = ['faultEveryCell', 'faultNeverStarts', 'routerOneCell'];

/** The cells a cell drill faults: its own, or every cell under --fault-every-cell. */
export function targetCells(ctx: DrillContext): string[] {
  return ctx.opts.faultEveryCell ? ctx.env.cells() : ctx.faultCells;
}

/** The cell a drill faults: --cell, else the first after the canary. */
export function defaultCell(cells: string[], opts: DrillOptions): string {
  const cell = opts.cell ?? cells.find((c) => c !== cells[0]) ?? cells[0];
  if (!cell || !cells.includes(cell)) throw new Error(`unknown cell '${String(cell)}' (cells: ${cells.join(', ')})`);
  return cell;
}

/** What a crash is held to (and a partitioned host, which fails its requests as one). */
export const fastFailExpectations = (): Expectations => ({
  faultObserved: FAILS_OBSERVED,
  spillZero: true,
  blastWithinPoints: 2,
  isolateWithinMs: ISOLATE_MS,
  recovers: true,
  otherCellsLatency: { factor: 3, addMs: 250 },
});

const slowExpectations = (minP99Ms: number) => (): Expectations => ({
  faultObserved: { minP99Ms },
  spillZero: true,
  blastWithinPoints: 2,
  recovers: true,
  otherCellsLatency: { factor: 3, addMs: 250 },
});

/** No failed request outside the faulted cells. */
export const spillGate = (): FailureGate[] => [{ scope: 'other', maxShare: 0 }];

/**
 * A drill through the cell's fault API: a fault that fails requests (`fails`) is held to fast
 * isolation and the failed-share control; a slow one to a p99 floor (`minP99Ms`).
 */
function apiDrill(
  name: string,
  description: string,
  fault: (windowMs: number) => CellFault,
  control: 'fails' | { minP99Ms: number },
): Drill {
  return {
    name,
    description,
    faultCells: (env, opts) => [defaultCell(env.cells(), opts)],
    expectations: control === 'fails' ? fastFailExpectations : slowExpectations(control.minP99Ms),
    gates: spillGate,
    sabotage: CELL_SABOTAGE,
    async inject(ctx) {
      for (const cell of targetCells(ctx)) {
        const f = fault(ctx.windowMs);
        if (ctx.opts.faultNeverStarts) {
          ctx.mark(`sabotage (--fault-never-starts): fault ${f.kind} NOT injected into ${cell}`);
          continue;
        }
        await ctx.env.injectFault(cell, f);
        ctx.mark(`fault ${f.kind} injected into ${cell} (${JSON.stringify(f)})`);
      }
      return undefined;
    },
    async heal(ctx) {
      for (const cell of targetCells(ctx)) {
        await ctx.env.clearFaults(cell);
        ctx.mark(`faults cleared on ${cell}`);
      }
    },
  };
}

/** The five cell drills. */
export const CELL_DRILLS: Drill[] = [
  {
    name: 'cell-crash',
    description: 'Kill one cell process (SIGKILL), keep it down for the window, bring it back.',
    faultCells: (env, opts) => [defaultCell(env.cells(), opts)],
    expectations: fastFailExpectations,
    gates: spillGate,
    sabotage: CELL_SABOTAGE,
    async inject(ctx) {
      for (const cell of targetCells(ctx)) {
        if (ctx.opts.faultNeverStarts) {
          ctx.mark(`sabotage (--fault-never-starts): ${cell} NOT killed`);
          continue;
        }
        await ctx.env.killAndHold(cell);
        ctx.mark(`${cell} killed and held down`);
      }
      return undefined;
    },
    async heal(ctx) {
      for (const cell of targetCells(ctx)) {
        if (ctx.opts.faultNeverStarts) continue;
        ctx.mark(`${cell} released for restart`);
        await ctx.env.restart(cell);
        ctx.mark(`${cell} ready again`);
      }
    },
  },
  // Long enough to matter, short enough not to time out the load generator. Every /v1 request
  // waits 600 to 700 ms: the p99 floor is the least of it.
  apiDrill(
    'cell-latency',
    'One cell answers every /v1 request 600 ms late.',
    (w) => ({ kind: 'latency', durationMs: w + 5000, latencyMs: 600, jitterMs: 100 }),
    { minP99Ms: 600 },
  ),
  apiDrill(
    'cell-errors',
    'One cell answers every /v1 request with a 500.',
    (w) => ({ kind: 'errors', durationMs: w + 5000, errorRate: 1, status: 500 }),
    'fails',
  ),
  // The one cell drill whose isolation is the router's own doing (errors and refused connections
  // are fast anyway): --router-isolation-off applies here only.
  {
    ...apiDrill(
      'cell-hang',
      'One cell never answers /v1 requests for the window.',
      (w) => ({ kind: 'hang', durationMs: w + 5000 }),
      'fails',
    ),
    sabotage: [...CELL_SABOTAGE, 'routerIsolationOff'],
  },
  // A write waits out the rest of the 200 ms slow-down it lands in, and the requests queued behind
  // it on the cell's event loop with it: the p99 floor is half of that (docs/drills.md says why).
  apiDrill(
    'cell-slow-db',
    "One cell's database is write-locked in 200 ms bursts by another connection: its writers wait, and its event loop with them.",
    (w) => ({ kind: 'slow-db', durationMs: w + 5000, latencyMs: 200 }),
    { minP99Ms: 100 },
  ),
];
