/**
 * What a route reads from its request: path parameters (checked by the shared ID schemas before
 * anything is read), the JSON body, checked by a schema, and the cell a path names.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { HttpError, type ErrorCode } from '../../../shared/errors.js';
import { CellIdSchema, CellRecordSchema, MarketIdSchema, RolloutIdSchema, formatIssues } from '../../../shared/kv.js';
import { MARKET_ID_PATTERN } from '../../../shared/market.js';
import type { AdminDeps } from './deps.js';

/** The kinds of ID a path names, each with its schema and the code of its refusal. */
const ID_KINDS: Record<'market' | 'cell' | 'rollout', { schema: z.ZodType<string>; code: ErrorCode }> = {
  market: { schema: MarketIdSchema, code: 'invalid_market' },
  cell: { schema: CellIdSchema, code: 'invalid_request' },
  rollout: { schema: RolloutIdSchema, code: 'invalid_request' },
};

/** An ID as a message shows it: at most 64 characters. */
function shown(v: string): string {
  return v.length > 64 ? `${v.slice(0, 64)}…` : v;
}

/**
 * The path parameter `name` as an ID of `kind`: `400 invalid_market` (a market) or `400
 * invalid_request` (a cell, a rollout) when it is not one, so no malformed ID reaches Consul.
 */
export function idParam(c: Context, name: string, kind: keyof typeof ID_KINDS): string {
  const v = c.req.param(name) ?? '';
  const { schema, code } = ID_KINDS[kind];
  if (!schema.safeParse(v).success) throw new HttpError(code, `'${shown(v)}' is not a ${kind} id (${MARKET_ID_PATTERN})`);
  return v;
}

/** The `dryRun` field every mutation body accepts. */
export const DryRun = { dryRun: z.boolean().optional() };

/** The body of an abort (a migration's, the running rollout's): only `dryRun`. */
export const AbortBody = z.object(DryRun).strict();

/** The body of a cell action (drain, activate, evacuate, rollback). */
export const CellActionBody = z
  .object({ concurrency: z.number().int().min(1).max(16).optional(), fromBackup: z.boolean().optional(), ...DryRun })
  .strict();

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
  if (!CellIdSchema.safeParse(cell).success) throw new HttpError('invalid_request', `'${shown(cell)}' is not a cell id`);
  const cur = await d.kv.getJson(CellRecordSchema, d.layout.cellKey(cell));
  if (!cur) throw new HttpError('not_found', `unknown cell '${cell}'`);
  return cur;
}
