/**
 * A market's A/B experiment (docs/experiments.md), beside the other market routes:
 * `POST /markets/:market/experiment` `{header, percent, color?}` starts it or changes it,
 * `POST /markets/:market/experiment/stop` removes it, `GET /markets/:market/experiment` reads it.
 * Each write is one CAS write of the market record through the market writer (its change-log
 * entry included), audited, dry-runnable; a refusal writes nothing.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { HttpError } from '../../../shared/errors.js';
import { experimentLive } from '../../../shared/experiment.js';
import { CellRecordSchema, ExperimentSpecSchema, MarketRecordSchema, type MarketRecord } from '../../../shared/kv.js';
import { audited } from './audited.js';
import type { AdminDeps } from './deps.js';
import { DryRun, body, idParam } from './input.js';

/** The experiment field's own schema (shared/kv.ts), with `color` optional: the color other than the active one. */
const Spec = ExperimentSpecSchema;
export const ExperimentBody = z
  .object({ header: Spec.shape.header, percent: Spec.shape.percent, color: Spec.shape.color.optional(), ...DryRun })
  .strict();
const StopBody = z.object(DryRun).strict();

/** The record without `experiment`, or with `spec`. */
function withExperiment(rec: MarketRecord, spec: MarketRecord['experiment']): MarketRecord {
  const { experiment: _old, ...rest } = rec;
  return spec ? { ...rest, experiment: spec } : rest;
}

async function marketOr404(d: AdminDeps, market: string) {
  const cur = await d.kv.getJson(MarketRecordSchema, d.layout.marketKey(market));
  if (!cur) throw new HttpError('not_found', `unknown market '${market}'`);
  return cur;
}

/** Registers the experiment routes on `app`. */
export function experimentRoutes(app: Hono, d: AdminDeps): void {
  app.get('/markets/:market/experiment', async (c) => {
    const market = idParam(c, 'market', 'market');
    const cur = await marketOr404(d, market);
    const cell = (await d.kv.getJson(CellRecordSchema, d.layout.cellKey(cur.value.cell)))?.value;
    const xp = cur.value.experiment;
    return c.json({
      market,
      cell: cur.value.cell,
      activeColor: cell?.activeColor ?? null,
      experiment: xp ?? null,
      live: experimentLive(xp, cell) && cur.value.state === 'active',
    });
  });

  app.post('/markets/:market/experiment', async (c) => {
    const market = idParam(c, 'market', 'market');
    const b = await body(c, ExperimentBody);
    const cur = await marketOr404(d, market);
    const action = `experiment start${b.dryRun ? ' (dry run)' : ''}`;
    const params = { header: b.header, percent: b.percent, color: b.color ?? null };
    const out = await audited(d, c, action, market, params, cur.value, async () => {
      if (cur.value.state !== 'active') throw new HttpError('conflict', `market ${market} is ${cur.value.state}: retry after its move`);
      const cell = await d.kv.getJson(CellRecordSchema, d.layout.cellKey(cur.value.cell));
      const active = cell?.value.activeColor;
      if (!active) throw new HttpError('conflict', `cell ${cur.value.cell} has no active color: an experiment needs one color per version`);
      const color = b.color ?? (active === 'blue' ? 'green' : 'blue');
      if (color === active)
        throw new HttpError('invalid_request', `${cur.value.cell} is active on ${active}: the variant is the other color`);
      const next = withExperiment(cur.value, { header: b.header, color, percent: b.percent });
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, market, record: next } };
      if (!(await d.markets.put(market, next, { cas: cur.item.modifyIndex })))
        throw new HttpError('conflict', `market ${market} changed meanwhile; retry`);
      return { after: next, out: { market, record: next } };
    });
    return c.json(out);
  });

  app.post('/markets/:market/experiment/stop', async (c) => {
    const market = idParam(c, 'market', 'market');
    const b = await body(c, StopBody);
    const cur = await marketOr404(d, market);
    const out = await audited(d, c, `experiment stop${b.dryRun ? ' (dry run)' : ''}`, market, {}, cur.value, async () => {
      const next = withExperiment(cur.value, undefined);
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, market, record: next } };
      if (!cur.value.experiment) return { after: cur.value, out: { market, record: cur.value, unchanged: true } };
      if (!(await d.markets.put(market, next, { cas: cur.item.modifyIndex })))
        throw new HttpError('conflict', `market ${market} changed meanwhile; retry`);
      return { after: next, out: { market, record: next } };
    });
    return c.json(out);
  });
}
