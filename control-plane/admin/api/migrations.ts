/** `POST /migrations` (start one, or its plan with `dryRun`) and `POST /migrations/:market/abort` (or its check with `dryRun`). */
import type { Hono } from 'hono';
import { z } from 'zod';
import { CellIdSchema, MarketIdSchema, MarketRecordSchema, ShareMoveSpecSchema } from '../../../shared/kv.js';
import { audited } from './audited.js';
import { who, type AdminDeps } from './deps.js';
import { AbortBody, DryRun, body, idParam } from './input.js';

/** A share step: a percent in hundredths, above 0 and below 100 (the flip takes the rest). */
const StepPercent = ShareMoveSpecSchema.shape.percent.refine((p) => p > 0 && p < 100, { message: 'a step is above 0 and below 100' });

const MigrateBody = z
  .object({
    market: MarketIdSchema,
    to: CellIdSchema,
    /** A move by share (docs/weighted-shifts.md §Market moves by share): rising percents of the keyed requests. */
    steps: z
      .array(StepPercent)
      .min(1)
      .max(10)
      .refine((a) => a.every((p, i) => i === 0 || p > a[i - 1]!), { message: 'steps must rise' })
      .optional(),
    /** The request header carrying the customer's id (the orders' bucket key); with steps only. */
    header: ShareMoveSpecSchema.shape.header.optional(),
    /** How long each step holds before the next (ms); with steps only. */
    bakeMs: z.number().int().min(0).max(3_600_000).optional(),
    ...DryRun,
  })
  .strict()
  .refine((b) => b.header === undefined || b.steps !== undefined, { message: 'header goes with steps', path: ['header'] })
  .refine((b) => b.bakeMs === undefined || b.steps !== undefined, { message: 'bakeMs goes with steps', path: ['bakeMs'] });

/** Registers the migration mutations on `app`. */
export function migrationRoutes(app: Hono, d: AdminDeps): void {
  app.post('/migrations', async (c) => {
    const b = await body(c, MigrateBody);
    const before = await d.kv.getJson(MarketRecordSchema, d.layout.marketKey(b.market)).catch(() => undefined);
    const share = b.steps ? { steps: b.steps, header: b.header ?? 'x-customer-id', bakeMs: b.bakeMs ?? 0 } : undefined;
    const args = { to: b.to, ...(share ?? {}) };
    const out = await audited(d, c, b.dryRun ? 'migrate (dry run)' : 'migrate', b.market, args, before?.value, async () => {
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan: await d.migrator.plan(b.market, b.to, share) } };
      const rec = await d.migrator.start(b.market, b.to, who(c), share);
      return { result: 'started', after: { migration: rec.id }, out: { migration: rec } };
    });
    return c.json(out, b.dryRun ? 200 : 202);
  });

  app.post('/migrations/:market/abort', async (c) => {
    const market = idParam(c, 'market', 'market');
    const b = await body(c, AbortBody);
    const action = b.dryRun ? 'migrate --abort (dry run)' : 'migrate --abort';
    const out = await audited(d, c, action, market, {}, await d.migrator.get(market), async () => {
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, migration: (await d.migrator.abortable(market)).value } };
      const rec = await d.migrator.abort(market);
      return { after: { abortRequested: true }, out: { migration: rec } };
    });
    return c.json(out, b.dryRun ? 200 : 202);
  });
}
