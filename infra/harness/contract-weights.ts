/**
 * The routing contract's `weights` case (docs/weighted-shifts.md): one cell with a blue and a
 * green echo instance and `shift: {color: green, percent: 20}` on its record. The plane must send
 * green the asked share of the market's requests (within four binomial standard deviations), name
 * the cell in `x-cell-id` on every answer, and send everything to blue once the shift is removed.
 */
import assert from 'node:assert/strict';
import { Agent } from 'undici';
import { countColors } from './color-count.js';
import { seedKv, startEchoCell, type EchoCell } from './echo-cell.js';

/** The cell and market the case adds to the suite's Consul. */
export const WEIGHTS_CELL = 'cell-w';
export const WEIGHTS_MARKET = 'm-w';
/** The share asked of green, percent. */
export const WEIGHTS_PERCENT = 20;
const N = 400;

/** What the case needs from the suite. */
export interface WeightsContext {
  baseUrl: string;
  consulUrl: string;
  prefix: string;
  /** The suite's echo cells (the case adds its two; the suite closes them). */
  cells: Map<string, EchoCell>;
  propagationMs: number;
}

/** Sends `n` requests for the case's market, 8 at a time, each answered by the shifted cell; counts the colors. */
const colors = (base: string, n: number, dispatcher: Agent) => countColors(base, WEIGHTS_MARKET, n, { dispatcher, cell: WEIGHTS_CELL });

/** Waits until `check` holds for one batch of requests, at most `ms`. */
async function until(ms: number, what: string, check: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end;) if (await check()) return;
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Runs the case; returns the measured green share (0..1). */
export async function weightsCase(ctx: WeightsContext): Promise<number> {
  const dispatcher = new Agent({ connections: 8, keepAliveTimeout: 10_000 });
  try {
    for (const color of ['blue', 'green'] as const)
      ctx.cells.set(`${WEIGHTS_CELL}.${color}`, await startEchoCell({ cell: WEIGHTS_CELL, color, consulUrl: ctx.consulUrl }));
    const record = (shift: boolean) => ({
      [WEIGHTS_CELL]: { activeColor: 'blue', ...(shift ? { shift: { color: 'green', percent: WEIGHTS_PERCENT } } : {}) },
    });
    await seedKv(ctx.consulUrl, { cells: record(true), markets: { [WEIGHTS_MARKET]: { cell: WEIGHTS_CELL } } }, ctx.prefix);
    // Routed, and both colors seen: the plane has the shift and both instances passing.
    await until(ctx.propagationMs, 'both colors of the shifted cell to answer', async () => {
      const got = await colors(ctx.baseUrl, 50, dispatcher).catch(() => ({ blue: 0, green: 0 }));
      return got.blue > 0 && got.green > 0;
    });
    const got = await colors(ctx.baseUrl, N, dispatcher);
    const p = WEIGHTS_PERCENT / 100;
    const share = got.green / N;
    const tolerance = 4 * Math.sqrt((p * (1 - p)) / N);
    assert.ok(
      Math.abs(share - p) <= tolerance,
      `green took ${(share * 100).toFixed(1)}% (${got.green} of ${N}); asked ${WEIGHTS_PERCENT}% ± ${(tolerance * 100).toFixed(1)} points`,
    );
    // The shift removed (a rollback): blue alone again.
    await seedKv(ctx.consulUrl, { cells: record(false) }, ctx.prefix);
    await until(
      ctx.propagationMs,
      'blue alone after the shift was removed',
      async () => (await colors(ctx.baseUrl, 100, dispatcher)).green === 0,
    );
    return share;
  } finally {
    await dispatcher.close();
  }
}
