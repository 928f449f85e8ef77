/**
 * `POST /cells/:cell/scale` `{delivery: n, dryRun?}`: a split cell's delivery service brought to
 * n instances (2 to 8) by the `cellctl up` supervisor, audited (control-plane/admin/delivery-scale.ts).
 * `400 invalid_request` for n outside 2..8, `404 not_found` for an unknown cell, `409 conflict`
 * when the cell is not split or no supervisor runs it, `409 cell_busy` while a delivery rollout
 * replaces its instances; a refusal starts or stops nothing.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { HttpError } from '../../../shared/errors.js';
import { MAX_DELIVERY, MIN_DELIVERY } from '../delivery-scale.js';
import { audited } from './audited.js';
import type { AdminDeps } from './deps.js';
import { DryRun, body, cellOr404, idParam } from './input.js';

const ScaleBody = z.object({ delivery: z.number().int().min(MIN_DELIVERY).max(MAX_DELIVERY), ...DryRun }).strict();

/** Registers the scale route on `app`. */
export function scaleRoutes(app: Hono, d: AdminDeps): void {
  app.post('/cells/:cell/scale', async (c) => {
    const cell = idParam(c, 'cell', 'cell');
    const b = await body(c, ScaleBody);
    await cellOr404(d, cell);
    const params = { delivery: b.delivery };
    const out = await audited(d, c, b.dryRun ? 'scale (dry run)' : 'scale', cell, params, null, async () => {
      const running = d.rollouts.running();
      if (running?.role === 'delivery' && running.previous[cell])
        throw new HttpError(
          'cell_busy',
          `delivery rollout ${running.id} (${running.version}) is replacing ${cell}'s delivery instances; wait for it or abort it`,
        );
      const plan = await d.delivery.plan(cell, b.delivery);
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan } };
      const scaled = await d.delivery.apply(cell, b.delivery);
      return { after: { delivery: scaled.to }, out: { ...scaled } };
    });
    return c.json(out);
  });
}
