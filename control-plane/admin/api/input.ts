/** What a mutation reads from its request: the JSON body, checked by a schema, and the cell a path names. */
import type { Context } from 'hono';
import { z } from 'zod';
import { HttpError } from '../../../shared/errors.js';
import { CellIdSchema, CellRecordSchema, formatIssues } from '../../../shared/kv.js';
import type { AdminDeps } from './deps.js';

/** The `dryRun` field every mutation body accepts. */
export const DryRun = { dryRun: z.boolean().optional() };

/** The body of a cell action (drain, activate, evacuate, rollback). */
export const CellActionBody = z.object({ concurrency: z.number().int().min(1).max(16).optional(), ...DryRun }).strict();

/** The body as `schema` (an empty body is `{}`): `400 invalid_json` when unparsable, `400 invalid_request` when off-schema. */
export async function body<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
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

/** The cell's record with its KV item: `400 invalid_request` for a malformed id, `404 not_found` for an unknown cell. */
export async function cellOr404(d: Pick<AdminDeps, 'kv' | 'layout'>, cell: string) {
  if (!CellIdSchema.safeParse(cell).success) throw new HttpError('invalid_request', `'${cell}' is not a cell id`);
  const cur = await d.kv.getJson(CellRecordSchema, d.layout.cellKey(cell));
  if (!cur) throw new HttpError('not_found', `unknown cell '${cell}'`);
  return cur;
}
