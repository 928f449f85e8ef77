/** The admin API's reads (any token, read scope included): status, cells, markets, migrations, rollouts, evacuations, audit. */
import type { Hono } from 'hono';
import { HttpError } from '../../../shared/errors.js';
import { cellViews, marketViews, planeViews } from '../views.js';
import type { AdminDeps } from './deps.js';
import { idParam } from './input.js';

/** Migration states that are over: `/status` lists only the others. */
const FINISHED = ['done', 'rolled-back', 'failed'];

/** Registers the GET routes on `app`. */
export function readRoutes(app: Hono, d: AdminDeps): void {
  app.get('/status', async (c) => {
    const [cells, markets, planes, migrations, rollouts] = await Promise.all([
      cellViews(d.kv, d.layout),
      marketViews(d.kv, d.layout),
      planeViews(d.kv.consul),
      d.migrator.list(),
      d.rollouts.list(),
    ]);
    return c.json({
      cells,
      markets: { total: markets.length, frozen: markets.filter((m) => m.state === 'frozen').length },
      routers: planes.routers,
      xds: planes.xds,
      migrations: migrations.filter((m) => !FINISHED.includes(m.state)),
      rollout: d.rollouts.running() ?? rollouts[0] ?? null,
    });
  });
  app.get('/cells', async (c) => c.json({ cells: await cellViews(d.kv, d.layout) }));
  app.get('/markets', async (c) => c.json({ markets: await marketViews(d.kv, d.layout) }));
  app.get('/migrations', async (c) => c.json({ migrations: await d.migrator.list() }));
  app.get('/migrations/:market', async (c) => {
    const market = idParam(c, 'market', 'market');
    const rec = await d.migrator.get(market);
    if (!rec) throw new HttpError('not_found', `no migration of '${market}'`);
    return c.json({ migration: rec });
  });
  app.get('/rollouts', async (c) => c.json({ running: d.rollouts.running() ?? null, rollouts: await d.rollouts.list() }));
  app.get('/rollouts/:id', async (c) => {
    const id = idParam(c, 'id', 'rollout');
    const rec = await d.rollouts.get(id);
    if (!rec) throw new HttpError('not_found', `no rollout '${id}'`);
    return c.json({ rollout: rec });
  });
  app.get('/cells/:cell/evacuation', async (c) => {
    const cell = idParam(c, 'cell', 'cell');
    const job = await d.evacuator.get(cell);
    if (!job) throw new HttpError('not_found', `no evacuation of '${cell}'`);
    return c.json({ evacuation: job });
  });
  app.get('/audit', async (c) => c.json({ audit: await d.audit.latest(auditLimit(c.req.query('limit'))) }));
}

/** `?limit=` of `/audit`: 50 when absent, else an integer from 1 to 500 (`400 invalid_request` otherwise). */
export function auditLimit(query: string | undefined): number {
  if (query === undefined) return 50;
  const n = /^[0-9]{1,3}$/.test(query) ? Number(query) : NaN;
  if (!(n >= 1 && n <= 500)) throw new HttpError('invalid_request', 'limit must be an integer from 1 to 500');
  return n;
}
