/**
 * Cell drills: one cell fails (crash, latency, errors, hang, slow database) and every other
 * cell's markets must not notice. cell-crash kills the process through the supervisor and keeps
 * it down for the window; the others use the cell's own fault API.
 */
import type { CellFault } from '../env/types.js';
import type { Expectations, FailureGate } from '../verdicts.js';
import type { Drill, DrillContext, DrillOptions } from './types.js';

/** Isolation targets of issue 7: ≤ 1 s through the router, ≤ 5 s through Envoy. */
export const ISOLATE_MS = { router: 1000, envoy: 5000 };

function targetCells(ctx: DrillContext): string[] {
  return ctx.opts.faultEveryCell ? ctx.env.cells() : ctx.faultCells;
}

function defaultCell(cells: string[], opts: DrillOptions): string {
  const cell = opts.cell ?? cells.find((c) => c !== cells[0]) ?? cells[0];
  if (!cell || !cells.includes(cell)) throw new Error(`unknown cell '${String(cell)}' (cells: ${cells.join(', ')})`);
  return cell;
}

const fastFailExpectations = (): Expectations => ({
  spillZero: true,
  blastWithinPoints: 2,
  isolateWithinMs: ISOLATE_MS,
  recovers: true,
  otherCellsLatency: { factor: 3, addMs: 250 },
});

const slowExpectations = (): Expectations => ({
  spillZero: true,
  blastWithinPoints: 2,
  recovers: true,
  otherCellsLatency: { factor: 3, addMs: 250 },
});

const spillGate = (): FailureGate[] => [{ scope: 'other', maxShare: 0 }];

function apiDrill(name: string, description: string, fault: (windowMs: number) => CellFault, fastFail: boolean): Drill {
  return {
    name,
    description,
    faultCells: (env, opts) => [defaultCell(env.cells(), opts)],
    expectations: fastFail ? fastFailExpectations : slowExpectations,
    gates: spillGate,
    async inject(ctx) {
      for (const cell of targetCells(ctx)) {
        const f = fault(ctx.windowMs);
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
    async inject(ctx) {
      for (const cell of targetCells(ctx)) {
        await ctx.env.killAndHold(cell);
        ctx.mark(`${cell} killed and held down`);
      }
      return undefined;
    },
    async heal(ctx) {
      for (const cell of targetCells(ctx)) {
        ctx.mark(`${cell} released for restart`);
        await ctx.env.restart(cell);
        ctx.mark(`${cell} ready again`);
      }
    },
  },
  // Long enough to matter, short enough not to time out the load generator.
  apiDrill(
    'cell-latency',
    'One cell answers every /v1 request 600 ms late.',
    (w) => ({ kind: 'latency', durationMs: w + 5000, latencyMs: 600, jitterMs: 100 }),
    false,
  ),
  apiDrill(
    'cell-errors',
    'One cell answers every /v1 request with a 500.',
    (w) => ({ kind: 'errors', durationMs: w + 5000, errorRate: 1, status: 500 }),
    true,
  ),
  apiDrill('cell-hang', 'One cell never answers /v1 requests for the window.', (w) => ({ kind: 'hang', durationMs: w + 5000 }), true),
  apiDrill(
    'cell-slow-db',
    "One cell's database work is delayed: every /v1 request and each saga and delivery step pauses before it.",
    (w) => ({ kind: 'slow-db', durationMs: w + 5000, latencyMs: 200 }),
    false,
  ),
];
