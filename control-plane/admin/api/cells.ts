/** `POST /cells/:cell/drain`, `/activate` (the cell record's state, CAS) and `/evacuate` (every market moved off it). */
import type { Hono } from 'hono';
import { HttpError, isCellsimError } from '../../../shared/errors.js';
import { CellRecordSchema } from '../../../shared/kv.js';
import { audited } from './audited.js';
import { who, type AdminDeps } from './deps.js';
import { CellActionBody, body, cellOr404, idParam } from './input.js';

/** Registers the cell mutations on `app`. */
export function cellRoutes(app: Hono, d: AdminDeps): void {
  const setCellState = (action: 'drain' | 'activate', state: 'draining' | 'active') =>
    app.post(`/cells/:cell/${action}`, async (c) => {
      const cell = idParam(c, 'cell', 'cell');
      const b = await body(c, CellActionBody);
      const cur = await cellOr404(d, cell);
      const next = { ...cur.value, state };
      const out = await audited(d, c, b.dryRun ? `${action} (dry run)` : action, cell, {}, cur.value, async () => {
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
    const cell = idParam(c, 'cell', 'cell');
    const b = await body(c, CellActionBody);
    const cur = await cellOr404(d, cell);
    const out = await audited(
      d,
      c,
      `evacuate${b.fromBackup ? ' --from-backup' : ''}${b.dryRun ? ' (dry run)' : ''}`,
      cell,
      { concurrency: b.concurrency, ...(b.fromBackup ? { fromBackup: true } : {}) },
      cur.value,
      async () => {
        if (b.fromBackup) {
          if (!d.recover) throw new HttpError('conflict', 'this control plane cannot recover from backups');
          const recovery = await d.recover(cell, b.dryRun === true);
          if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, recovery } };
          const after = { ...cur.value, state: 'down' as const };
          await d.kv.putJson(CellRecordSchema, d.layout.cellKey(cell), after, { cas: cur.item.modifyIndex });
          return { after: { state: 'down', markets: recovery.markets.length }, out: { recovery } };
        }
        if (await d.evacuator.busy(cell)) throw new HttpError('conflict', `cell ${cell} is already being evacuated`);
        const plan = await evacuationPlan(d, cell);
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
}

/** The evacuation plan of `cell`; no room for a market is `409 conflict` with the cells' state, any other failure (Consul) is not. */
export async function evacuationPlan(d: AdminDeps, cell: string) {
  try {
    return await d.evacuator.plan(cell);
  } catch (err) {
    if (isCellsimError(err, 'no_capacity')) throw new HttpError('conflict', err.message);
    throw err;
  }
}
