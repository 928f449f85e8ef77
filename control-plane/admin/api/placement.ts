/**
 * `GET /load` (every cell's measured load and each market's share) and `POST /rebalance` (the
 * moves that even out the cells' utilization, with the load expected after them; the caller runs
 * them as migrations). docs/operators.md §Placement by load.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { HttpError } from '../../../shared/errors.js';
import { CellRecordSchema } from '../../../shared/kv.js';
import { Tally, planRebalance } from '../../placement/plan.js';
import { audited } from './audited.js';
import type { AdminDeps } from './deps.js';
import { DryRun, body } from './input.js';

const WindowMs = z.number().int().min(500).max(30_000);

const RebalanceBody = z
  .object({
    maxMoves: z.number().int().min(1).max(100).optional(),
    tolerance: z.number().min(0).max(10).optional(),
    windowMs: WindowMs.optional(),
    ...DryRun,
  })
  .strict();

/** `?windowMs=`: 3000 when absent, else an integer from 500 to 30000 (`400 invalid_request` otherwise). */
function windowOf(c: Context): number {
  const q = c.req.query('windowMs');
  if (q === undefined) return 3000;
  const parsed = WindowMs.safeParse(/^[0-9]{1,6}$/.test(q) ? Number(q) : NaN);
  if (!parsed.success) throw new HttpError('invalid_request', 'windowMs must be an integer from 500 to 30000');
  return parsed.data;
}

/** Registers the placement routes on `app`. */
export function placementRoutes(app: Hono, d: AdminDeps): void {
  app.get('/load', async (c) => c.json(await d.placement.measure(windowOf(c))));

  app.post('/rebalance', async (c) => {
    const b = await body(c, RebalanceBody);
    const params = { maxMoves: b.maxMoves, tolerance: b.tolerance, windowMs: b.windowMs };
    const out = await audited(d, c, b.dryRun ? 'rebalance (dry run)' : 'rebalance', 'cells', params, null, async () => {
      const report = await d.placement.measure(b.windowMs ?? 3000);
      const cells = (await d.kv.listJson(CellRecordSchema, d.layout.cellsPrefix)).values.map((v) => v.value);
      const t = new Tally(cells, report.markets);
      const util = () =>
        cells.map((x) => ({
          cell: x.id,
          markets: t.markets.get(x.id) ?? 0,
          rps: round(t.rps.get(x.id) ?? 0),
          utilization: round(t.utilization(x)),
        }));
      const before = util();
      const plan = planRebalance(t, report.markets, { maxMoves: b.maxMoves, tolerance: b.tolerance });
      const answer = { plan, before, after: util(), load: report };
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, ...answer } };
      return { after: { moves: plan.length }, out: answer };
    });
    return c.json(out);
  });
}

const round = (n: number) => (Number.isFinite(n) ? Math.round(n * 100) / 100 : n);
