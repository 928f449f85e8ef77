/**
 * `POST /markets/:market/assign`: a new market is created on the cell (an active one); an
 * existing market assigned elsewhere is migrated there online. Without a cell, the cell is chosen
 * by measured load against capacity. The new market's record is
 * written in one place, {@link createMarketRecord}. A market's A/B experiment: ./experiment.ts.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { HttpError } from '../../../shared/errors.js';
import { CellIdSchema, CellRecordSchema, MarketRecordSchema, type MarketRecord } from '../../../shared/kv.js';
import { Tally, pickTarget } from '../../placement/plan.js';
import { audited } from './audited.js';
import { experimentRoutes } from './experiment.js';
import { who, type AdminDeps } from './deps.js';
import { DryRun, body, cellOr404, idParam } from './input.js';

const AssignBody = z.object({ cell: CellIdSchema.optional(), ...DryRun }).strict();

/** The cell a market goes to when the caller names none: by measured load (control-plane/placement/plan.ts). */
async function cellByLoad(d: AdminDeps, market: string, current: string | undefined): Promise<string> {
  const report = await d.placement.measure(2000);
  const cells = (await d.kv.listJson(CellRecordSchema, d.layout.cellsPrefix)).values.map((v) => v.value);
  const rps = report.markets.find((m) => m.market === market)?.rps ?? 0;
  const to = pickTarget(new Tally(cells, report.markets), rps, current ? [current] : []);
  if (!to) throw new HttpError('conflict', `no active cell has room for ${market}`);
  return to.id;
}

/** Writes a new market's record with its change-log entry, create-only (CAS 0); false when the market was created meanwhile. */
export async function createMarketRecord(d: Pick<AdminDeps, 'markets'>, market: string, record: MarketRecord): Promise<boolean> {
  return d.markets.put(market, record, { cas: 0 });
}

/** Registers the assign route on `app`. */
export function marketRoutes(app: Hono, d: AdminDeps): void {
  app.post('/markets/:market/assign', async (c) => {
    const market = idParam(c, 'market', 'market');
    const b = await body(c, AssignBody);
    const before = await d.kv.getJson(MarketRecordSchema, d.layout.marketKey(market));
    const params = { cell: b.cell ?? null };
    const out = await audited(d, c, b.dryRun ? 'assign (dry run)' : 'assign', market, params, before?.value ?? null, async () => {
      b.cell ??= await cellByLoad(d, market, before?.value.cell);
      const cell = await cellOr404(d, b.cell);
      if (before) {
        // An existing market: assigning it elsewhere is an online migration.
        if (before.value.cell === b.cell)
          return { result: b.dryRun ? 'dry-run' : 'ok', out: { market, unchanged: true, record: before.value } };
        if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan: await d.migrator.plan(market, b.cell) } };
        const rec = await d.migrator.start(market, b.cell, who(c));
        return { result: 'started', after: { migration: rec.id }, out: { migration: rec } };
      }
      if (cell.value.state !== 'active') throw new HttpError('conflict', `cell ${b.cell} is ${cell.value.state}: it takes no new markets`);
      const record = { cell: b.cell, state: 'active' as const, epoch: 1 };
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan: { market, create: record } } };
      if (!(await createMarketRecord(d, market, record))) throw new HttpError('conflict', `market ${market} was created meanwhile; retry`);
      return { after: record, out: { market, record } };
    });
    return c.json(out, 'migration' in out ? 202 : 200);
  });
  experimentRoutes(app, d);
}
