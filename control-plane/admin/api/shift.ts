/**
 * `POST /cells/:cell/shift`: an operator writes (or clears) the cell record's weighted `shift`
 * outside a rollout (docs/weighted-shifts.md §By hand), one CAS write, audited. Refused while a
 * rollout runs (it owns the cells' shifts) and when the shift would go to the active color.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { HttpError } from '../../../shared/errors.js';
import { CellRecordSchema, type CellRecord } from '../../../shared/kv.js';
import { audited } from './audited.js';
import type { AdminDeps } from './deps.js';
import { DryRun, body, cellOr404, idParam } from './input.js';

/** `{color, percent}` (percent above 0, at most 100, in hundredths at most) or `{clear: true}`; `dryRun` with either. */
export const ShiftBody = z.union([
  z
    .object({
      color: z.enum(['blue', 'green']),
      percent: z
        .number()
        .gt(0)
        .max(100)
        .refine((p) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-9, 'percent has at most two decimals'),
      ...DryRun,
    })
    .strict(),
  z.object({ clear: z.literal(true), ...DryRun }).strict(),
]);

/** The record with `shift` set or removed. */
export function shifted(cur: CellRecord, shift: CellRecord['shift'] | undefined): CellRecord {
  const { shift: _old, ...rest } = cur;
  return shift ? { ...rest, shift } : rest;
}

/** Registers the shift route on `app`. */
export function shiftRoutes(app: Hono, d: AdminDeps): void {
  app.post('/cells/:cell/shift', async (c) => {
    const cell = idParam(c, 'cell', 'cell');
    const b = await body(c, ShiftBody);
    const cur = await cellOr404(d, cell);
    const shift = 'clear' in b ? undefined : { color: b.color, percent: b.percent };
    const action = `${shift ? 'shift' : 'shift --clear'}${b.dryRun ? ' (dry run)' : ''}`;
    const out = await audited(d, c, action, cell, shift ?? { clear: true }, cur.value, async () => {
      const running = d.rollouts.running();
      if (running)
        throw new HttpError(
          'cell_busy',
          `rollout ${running.id} (${running.version}) is running and owns the cells' shifts; abort it first`,
        );
      const active = cur.value.activeColor ?? 'blue';
      if (shift && shift.color === active)
        throw new HttpError('invalid_request', `${cell} is active on ${active}: a shift goes to the other color`);
      const next = shifted(cur.value, shift);
      if (b.dryRun) return { result: 'dry-run', out: { dryRun: true, cell: next } };
      if (!shift && !cur.value.shift) return { after: cur.value, out: { cell: cur.value, unchanged: true } };
      if (!(await d.kv.putJson(CellRecordSchema, d.layout.cellKey(cell), next, { cas: cur.item.modifyIndex })))
        throw new HttpError('conflict', `cell ${cell} changed meanwhile; retry`);
      return { after: next, out: { cell: next } };
    });
    return c.json(out);
  });
}
