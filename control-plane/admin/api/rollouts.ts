/** `POST /rollouts` (start one, or its plan with `dryRun`), `POST /rollouts/abort` (or its check with `dryRun`) and `POST /cells/:cell/rollback`. */
import type { Hono } from 'hono';
import { z } from 'zod';
import { audited } from './audited.js';
import { who, type AdminDeps } from './deps.js';
import { AbortBody, CellActionBody, DryRun, body, cellOr404, idParam } from './input.js';

const RolloutBody = z
  .object({
    version: z.string().min(1).max(64),
    defect: z.unknown().optional(),
    bakeMs: z.number().int().min(0).max(3_600_000).optional(),
    warmupMs: z.number().int().min(0).max(3_600_000).optional(),
    waveSizes: z.array(z.number().int().min(1)).min(1).optional(),
    allowIdle: z.boolean().optional(),
    /** Weighted steps before each wave's full switch (percent; the manager checks they rise below 100). */
    steps: z.array(z.number().gt(0).lt(100)).min(1).max(10).optional(),
    /** What is replaced: `cell` (default: the cells' instances) or `delivery` (a split cell's delivery instances). */
    role: z.enum(['cell', 'delivery']).optional(),
    /** A delivery rollout's bound on the consumer group's lag (records). */
    maxLag: z.number().int().min(1).max(10_000_000).optional(),
    ...DryRun,
  })
  .strict();

/** Registers the rollout mutations on `app`. */
export function rolloutRoutes(app: Hono, d: AdminDeps): void {
  app.post('/rollouts', async (c) => {
    const b = await body(c, RolloutBody);
    const out = await audited(
      d,
      c,
      b.dryRun ? 'rollout (dry run)' : 'rollout',
      b.version,
      {
        defect: b.defect,
        bakeMs: b.bakeMs,
        ...(b.warmupMs !== undefined ? { warmupMs: b.warmupMs } : {}),
        waveSizes: b.waveSizes,
        allowIdle: b.allowIdle,
        ...(b.steps ? { steps: b.steps } : {}),
        ...(b.role === 'delivery' ? { role: b.role } : {}),
        ...(b.maxLag !== undefined ? { maxLag: b.maxLag } : {}),
      },
      undefined,
      async () => {
        const req = {
          version: b.version,
          defect: b.defect,
          bakeMs: b.bakeMs,
          ...(b.warmupMs !== undefined ? { warmupMs: b.warmupMs } : {}),
          waveSizes: b.waveSizes,
          allowIdle: b.allowIdle,
          ...(b.steps ? { steps: b.steps } : {}),
          ...(b.role === 'delivery' ? { role: 'delivery' as const } : {}),
          ...(b.maxLag !== undefined ? { maxLag: b.maxLag } : {}),
          by: who(c),
        };
        if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, plan: (await d.rollouts.plan(req)).record } };
        const rec = await d.rollouts.start(req);
        return { result: 'started', after: { rollout: rec.id }, out: { rollout: rec } };
      },
    );
    return c.json(out, 'rollout' in out ? 202 : 200);
  });

  app.post('/rollouts/abort', async (c) => {
    const b = await body(c, AbortBody);
    const action = b.dryRun ? 'rollout --abort (dry run)' : 'rollout --abort';
    const out = await audited(d, c, action, 'rollout', {}, d.rollouts.running(), async () => {
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, rollout: await d.rollouts.abortable() } };
      return { out: { rollout: await d.rollouts.abort() } };
    });
    return c.json(out, b.dryRun ? 200 : 202);
  });

  app.post('/cells/:cell/rollback', async (c) => {
    const cell = idParam(c, 'cell', 'cell');
    const b = await body(c, CellActionBody);
    const cur = await cellOr404(d, cell);
    const out = await audited(d, c, b.dryRun ? 'rollback (dry run)' : 'rollback', cell, {}, cur.value, async () => {
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, cell: cur.value } };
      const r = await d.rollouts.rollbackCell(cell);
      return { after: r, out: { rollback: r } };
    });
    return c.json(out);
  });
}
