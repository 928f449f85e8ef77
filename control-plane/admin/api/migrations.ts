/** `POST /migrations` (start one, or its plan with `dryRun`) and `POST /migrations/:market/abort` (or its check with `dryRun`). */
import type { Hono } from 'hono';
import { z } from 'zod';
import { CellIdSchema, MarketIdSchema, MarketRecordSchema } from '../../../shared/kv.js';
import { audited } from './audited.js';
import { who, type AdminDeps } from './deps.js';
import { AbortBody, DryRun, body, idParam } from './input.js';

const MigrateBody = z.object({ market: MarketIdSchema, to: CellIdSchema, ...DryRun }).strict();

/** Registers the migration mutations on `app`. */
export function migrationRoutes(app: Hono, d: AdminDeps): void {
  app.post('/migrations', async (c) => {
    const b = await body(c, MigrateBody);
    const before = await d.kv.getJson(MarketRecordSchema, d.layout.marketKey(b.market)).catch(() => undefined);
    const out = await audited(d, c, b.dryRun ? 'migrate (dry run)' : 'migrate', b.market, { to: b.to }, before?.value, async () => {
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan: await d.migrator.plan(b.market, b.to) } };
      const rec = await d.migrator.start(b.market, b.to, who(c));
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
