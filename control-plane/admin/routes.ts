/**
 * The operator admin API (hono), mounted under `/admin` by control-plane/main.ts. Reads are
 * open (loopback); every mutation needs `Authorization: Bearer <admin token>`, accepts
 * `"dryRun": true` (answers the plan, changes nothing) and writes an audit record.
 * Routes are listed in docs/operators.md.
 */
import { timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { HttpError, errorBody, isCellsimError } from '../../shared/errors.js';
import { CellIdSchema, CellRecordSchema, MarketRecordSchema, formatIssues, type KvLayout } from '../../shared/kv.js';
import { isMarketId } from '../../shared/market.js';
import type { Logger } from '../../shared/logger.js';
import type { Migrator } from '../migration/migrator.js';
import type { RolloutManager } from '../rollout/manager.js';
import type { AuditLog } from './audit.js';
import type { Evacuator } from './evacuation.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import { cellViews, marketViews, planeViews } from './views.js';

/** What the routes act on. */
export interface AdminDeps {
  kv: KvStore;
  layout: KvLayout;
  token: string | undefined;
  migrator: Migrator;
  rollouts: RolloutManager;
  evacuator: Evacuator;
  audit: AuditLog;
  log: Logger;
}

const DryRun = { dryRun: z.boolean().optional() };
const MigrateBody = z.object({ market: z.string(), to: z.string(), ...DryRun }).strict();
const AssignBody = z.object({ cell: z.string(), ...DryRun }).strict();
const CellActionBody = z.object({ concurrency: z.number().int().min(1).max(16).optional(), ...DryRun }).strict();
const RolloutBody = z
  .object({
    version: z.string().min(1).max(64),
    defect: z.unknown().optional(),
    bakeMs: z.number().int().min(0).max(3_600_000).optional(),
    waveSizes: z.array(z.number().int().min(1)).min(1).optional(),
    allowIdle: z.boolean().optional(),
    ...DryRun,
  })
  .strict();

async function body<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
  let raw: unknown = {};
  const text = await c.req.text();
  if (text.trim()) {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new HttpError('invalid_json', 'the body is not valid JSON');
    }
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new HttpError('invalid_request', formatIssues(parsed.error).join('; '));
  return parsed.data;
}

function sameToken(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Builds the `/admin` sub-app. */
export function adminRoutes(d: AdminDeps): Hono {
  const app = new Hono();
  const who = (c: Context) => c.req.header('x-cellsim-operator') ?? 'api';

  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json(err.body(), err.status as 400, err.headers);
    d.log.error({ err: err.message, path: c.req.path }, 'admin request failed');
    return c.json(errorBody('internal', err.message), 500);
  });

  app.use('*', async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const auth = c.req.header('authorization') ?? '';
    const m = /^Bearer (.+)$/.exec(auth);
    if (!d.token) throw new HttpError('unauthorized', 'this control plane has no admin token configured (--admin-token)');
    if (!m?.[1]) throw new HttpError('unauthorized', 'missing bearer token (Authorization: Bearer <admin token>)');
    if (!sameToken(m[1], d.token)) throw new HttpError('unauthorized', 'wrong admin token');
    return next();
  });

  /** Runs a mutation with its audit record: before, after, result. */
  const audited = async (
    c: Context,
    action: string,
    target: string,
    params: unknown,
    before: unknown,
    act: () => Promise<{ after?: unknown; result?: 'ok' | 'dry-run' | 'started'; out: Record<string, unknown> }>,
  ): Promise<Record<string, unknown>> => {
    try {
      const r = await act();
      await d.audit.record({ who: who(c), action, target, params, before, after: r.after, result: r.result ?? 'ok' });
      return r.out;
    } catch (err) {
      const refused = err instanceof HttpError && err.status < 500;
      await d.audit.record({
        who: who(c),
        action,
        target,
        params,
        before,
        result: refused ? 'refused' : 'failed',
        error: (err as Error).message,
      });
      throw err;
    }
  };

  const cellOr404 = async (cell: string) => {
    if (!CellIdSchema.safeParse(cell).success) throw new HttpError('invalid_request', `'${cell}' is not a cell id`);
    const cur = await d.kv.getJson(CellRecordSchema, d.layout.cellKey(cell));
    if (!cur) throw new HttpError('not_found', `unknown cell '${cell}'`);
    return cur;
  };

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
      migrations: migrations.filter((m) => !['done', 'rolled-back', 'failed'].includes(m.state)),
      rollout: d.rollouts.running() ?? rollouts[0] ?? null,
    });
  });
  app.get('/cells', async (c) => c.json({ cells: await cellViews(d.kv, d.layout) }));
  app.get('/markets', async (c) => c.json({ markets: await marketViews(d.kv, d.layout) }));
  app.get('/migrations', async (c) => c.json({ migrations: await d.migrator.list() }));
  app.get('/migrations/:market', async (c) => {
    const rec = await d.migrator.get(c.req.param('market'));
    if (!rec) throw new HttpError('not_found', `no migration of '${c.req.param('market')}'`);
    return c.json({ migration: rec });
  });
  app.get('/rollouts', async (c) => c.json({ running: d.rollouts.running() ?? null, rollouts: await d.rollouts.list() }));
  app.get('/rollouts/:id', async (c) => {
    const rec = await d.rollouts.get(c.req.param('id'));
    if (!rec) throw new HttpError('not_found', `no rollout '${c.req.param('id')}'`);
    return c.json({ rollout: rec });
  });
  app.get('/cells/:cell/evacuation', async (c) => {
    const job = await d.evacuator.get(c.req.param('cell'));
    if (!job) throw new HttpError('not_found', `no evacuation of '${c.req.param('cell')}'`);
    return c.json({ evacuation: job });
  });
  app.get('/audit', async (c) => c.json({ audit: await d.audit.latest(Math.min(500, Number(c.req.query('limit') ?? 50) || 50)) }));

  app.post('/migrations', async (c) => {
    const b = await body(c, MigrateBody);
    const before = await d.kv.getJson(MarketRecordSchema, d.layout.marketKey(b.market)).catch(() => undefined);
    const out = await audited(c, b.dryRun ? 'migrate (dry run)' : 'migrate', b.market, { to: b.to }, before?.value, async () => {
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan: await d.migrator.plan(b.market, b.to) } };
      const rec = await d.migrator.start(b.market, b.to, who(c));
      return { result: 'started', after: { migration: rec.id }, out: { migration: rec } };
    });
    return c.json(out, b.dryRun ? 200 : 202);
  });

  app.post('/migrations/:market/abort', async (c) => {
    const market = c.req.param('market');
    const out = await audited(c, 'migrate --abort', market, {}, await d.migrator.get(market), async () => {
      const rec = await d.migrator.abort(market);
      return { after: { abortRequested: true }, out: { migration: rec } };
    });
    return c.json(out, 202);
  });

  app.post('/markets/:market/assign', async (c) => {
    const market = c.req.param('market');
    const b = await body(c, AssignBody);
    if (!isMarketId(market)) throw new HttpError('invalid_market', `'${String(market)}' is not a market id`);
    const before = await d.kv.getJson(MarketRecordSchema, d.layout.marketKey(market));
    const out = await audited(c, b.dryRun ? 'assign (dry run)' : 'assign', market, { cell: b.cell }, before?.value ?? null, async () => {
      const cell = await cellOr404(b.cell);
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
      if (!(await d.kv.putJson(MarketRecordSchema, d.layout.marketKey(market), record, { cas: 0 })))
        throw new HttpError('conflict', `market ${market} was created meanwhile; retry`);
      return { after: record, out: { market, record } };
    });
    return c.json(out, 'migration' in out ? 202 : 200);
  });

  const setCellState = (action: 'drain' | 'activate', state: 'draining' | 'active') =>
    app.post(`/cells/:cell/${action}`, async (c) => {
      const cell = c.req.param('cell');
      const b = await body(c, CellActionBody);
      const cur = await cellOr404(cell);
      const next = { ...cur.value, state };
      const out = await audited(c, b.dryRun ? `${action} (dry run)` : action, cell, {}, cur.value, async () => {
        if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, cell: next } };
        if (!(await d.kv.putJson(CellRecordSchema, d.layout.cellKey(cell), next, { cas: cur.item.modifyIndex })))
          throw new HttpError('conflict', `cell ${cell} changed meanwhile; retry`);
        return { after: next, out: { cell: next } };
      });
      return c.json(out);
    });
  setCellState('drain', 'draining');
  setCellState('activate', 'active');

  app.post('/cells/:cell/evacuate', async (c) => {
    const cell = c.req.param('cell');
    const b = await body(c, CellActionBody);
    const cur = await cellOr404(cell);
    const out = await audited(
      c,
      b.dryRun ? 'evacuate (dry run)' : 'evacuate',
      cell,
      { concurrency: b.concurrency },
      cur.value,
      async () => {
        if (await d.evacuator.busy(cell)) throw new HttpError('conflict', `cell ${cell} is already being evacuated`);
        let plan;
        try {
          plan = await d.evacuator.plan(cell);
        } catch (err) {
          // No room for a market is a conflict with the cells' state; any other failure (Consul) is not.
          if (isCellsimError(err, 'no_capacity')) throw new HttpError('conflict', err.message);
          throw err;
        }
        if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan } };
        if (cur.value.state === 'active') {
          await d.kv.putJson(CellRecordSchema, d.layout.cellKey(cell), { ...cur.value, state: 'draining' }, { cas: cur.item.modifyIndex });
        }
        const job = await d.evacuator.start(cell, plan, b.concurrency ?? 2, who(c));
        return { result: 'started', after: { state: 'draining', markets: plan.length }, out: { evacuation: job, plan } };
      },
    );
    return c.json(out, 'evacuation' in out ? 202 : 200);
  });

  app.post('/rollouts', async (c) => {
    const b = await body(c, RolloutBody);
    const out = await audited(
      c,
      b.dryRun ? 'rollout (dry run)' : 'rollout',
      b.version,
      { defect: b.defect, bakeMs: b.bakeMs, waveSizes: b.waveSizes, allowIdle: b.allowIdle },
      undefined,
      async () => {
        const req = { version: b.version, defect: b.defect, bakeMs: b.bakeMs, waveSizes: b.waveSizes, allowIdle: b.allowIdle, by: who(c) };
        if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan: (await d.rollouts.plan(req)).record } };
        const rec = await d.rollouts.start(req);
        return { result: 'started', after: { rollout: rec.id }, out: { rollout: rec } };
      },
    );
    return c.json(out, 'rollout' in out ? 202 : 200);
  });

  app.post('/rollouts/abort', async (c) => {
    const out = await audited(c, 'rollout --abort', 'rollout', {}, d.rollouts.running(), async () => ({
      out: { rollout: await d.rollouts.abort() },
    }));
    return c.json(out, 202);
  });

  app.post('/cells/:cell/rollback', async (c) => {
    const cell = c.req.param('cell');
    const b = await body(c, CellActionBody);
    const cur = await cellOr404(cell);
    const out = await audited(c, b.dryRun ? 'rollback (dry run)' : 'rollback', cell, {}, cur.value, async () => {
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, cell: cur.value } };
      const r = await d.rollouts.rollbackCell(cell);
      return { after: r, out: { rollback: r } };
    });
    return c.json(out);
  });

  return app;
}
