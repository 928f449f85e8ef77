/**
 * `POST /cells/:cell/add` (a new cell: its record, its process under a supervisor) and
 * `POST /cells/:cell/retire` (refused while the cell owns markets, `409 cell_not_empty`, unless
 * `evacuate` starts their evacuation first; `409 cell_busy` while work involving it runs).
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { HttpError } from '../../../shared/errors.js';
import { CellRecordSchema, type CellRecord } from '../../../shared/kv.js';
import { audited, type Outcome } from './audited.js';
import { evacuationPlan } from './cells.js';
import { who, type AdminDeps } from './deps.js';
import { DryRun, body, cellOr404, idParam } from './input.js';

const AddBody = z
  .object({
    capacity: z.number().int().min(1).max(100_000).optional(),
    version: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/)
      .optional(),
    ...DryRun,
  })
  .strict();

const RetireBody = z
  .object({ evacuate: z.boolean().optional(), concurrency: z.number().int().min(1).max(16).optional(), ...DryRun })
  .strict();

/** Starts (or joins) the evacuation of `cell` before its retirement: `202` with the job and its plan. */
async function evacuateFirst(
  d: AdminDeps,
  c: Context,
  cur: { value: CellRecord; item: { modifyIndex: number } },
  concurrency: number,
  dryRun: boolean,
): Promise<Outcome> {
  const cell = cur.value.id;
  if (await d.evacuator.busy(cell)) return { result: 'started', out: { retired: false, evacuation: await d.evacuator.get(cell) } };
  const plan = await evacuationPlan(d, cell);
  if (dryRun) return { result: 'dry-run', out: { dryRun: true, plan: { evacuate: plan, then: 'retire' } } };
  if (cur.value.state === 'active')
    await d.kv.putJson(CellRecordSchema, d.layout.cellKey(cell), { ...cur.value, state: 'draining' }, { cas: cur.item.modifyIndex });
  const job = await d.evacuator.start(cell, plan, concurrency, who(c));
  return { result: 'started', after: { state: 'draining', markets: plan.length }, out: { retired: false, evacuation: job, plan } };
}

/** Registers the lifecycle routes on `app`. */
export function lifecycleRoutes(app: Hono, d: AdminDeps): void {
  app.post('/cells/:cell/add', async (c) => {
    const cell = idParam(c, 'cell', 'cell');
    const b = await body(c, AddBody);
    const params = { capacity: b.capacity, version: b.version };
    const out = await audited(d, c, b.dryRun ? 'add (dry run)' : 'add', cell, params, null, async () => {
      const record = await d.lifecycle.planAdd(cell, b);
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan: { record, supervised: d.lifecycle.supervised() } } };
      const added = await d.lifecycle.add(record);
      return { after: added.record, out: { ...added } };
    });
    return c.json(out);
  });

  app.post('/cells/:cell/retire', async (c) => {
    const cell = idParam(c, 'cell', 'cell');
    const b = await body(c, RetireBody);
    const cur = await cellOr404(d, cell);
    const params = { evacuate: b.evacuate ?? false, concurrency: b.concurrency };
    const out = await audited(d, c, b.dryRun ? 'retire (dry run)' : 'retire', cell, params, cur.value, async () => {
      const check = await d.lifecycle.checkRetire(cur.value);
      if (check.markets.length) {
        if (!b.evacuate)
          throw new HttpError(
            'cell_not_empty',
            `cell ${cell} owns ${check.markets.length} market(s): evacuate them first (evacuate: true)`,
            {
              details: { markets: check.markets },
            },
          );
        return evacuateFirst(d, c, cur, b.concurrency ?? 2, b.dryRun === true);
      }
      if (check.busy.length)
        throw new HttpError('cell_busy', `still running on ${cell}: ${check.busy.join(', ')}; retry when it ends`, {
          details: { busy: check.busy },
        });
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan: { retire: cell, supervised: d.lifecycle.supervised() } } };
      const done = await d.lifecycle.retire(cur.value, cur.item.modifyIndex);
      return { after: null, out: { retired: true, cell, ...done } };
    });
    return c.json(out, 'evacuation' in out ? 202 : 200);
  });
}
