/** Reading request bodies at the HTTP edge: content type, size limit, JSON, then a zod schema. */
import type { Context } from 'hono';
import type { ZodIssue, ZodType, ZodTypeDef } from 'zod';
import { HttpError } from '../../shared/errors.js';

/** The body limit of every /v1 request (64 KiB). */
export const BODY_LIMIT_BYTES = 64 * 1024;

/** `items[2].qty` from a zod issue path. */
export function issuePath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(body)' : out;
}

/** Every problem of a failed validation, each with its path, as the error `details`. */
export function issuesDetails(issues: readonly ZodIssue[]): { path: string; message: string }[] {
  return issues.map((i) => ({ path: issuePath(i.path), message: i.message }));
}

/** Throws `invalid_request` listing every issue (`items[2].qty: ...; address: ...`). */
export function invalid(issues: readonly ZodIssue[], what = 'request'): never {
  const details = issuesDetails(issues);
  const msg = details
    .slice(0, 5)
    .map((d) => `${d.path}: ${d.message}`)
    .join('; ');
  throw new HttpError('invalid_request', `invalid ${what}: ${msg}`, { details });
}

/** Reads the raw body, refusing (413) anything over `limit` bytes, declared or actual. */
export async function readLimited(req: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get('content-length') ?? '0');
  const tooLarge = () => new HttpError('payload_too_large', `request body is over ${limit} bytes`);
  if (declared > limit) throw tooLarge();
  if (req.body === null) return new Uint8Array();
  const reader = (req.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads a JSON body and validates it: 415 when it is not `application/json`, 413 over the
 * limit, 400 `invalid_json` when it does not parse, 400 `invalid_request` (every issue with its
 * path) when the schema refuses it. With `optional`, an empty body validates `{}`.
 */
export async function readJson<T>(
  c: Context,
  schema: ZodType<T, ZodTypeDef, unknown>,
  opts: { optional?: boolean; limit?: number } = {},
): Promise<T> {
  const raw = await readLimited(c.req.raw, opts.limit ?? BODY_LIMIT_BYTES);
  if (raw.byteLength === 0 && opts.optional) return parse(schema, {});
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError('unsupported_media_type', `content-type must be application/json (got '${type || 'none'}')`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch (err) {
    throw new HttpError('invalid_json', `body is not valid JSON: ${(err as Error).message}`);
  }
  return parse(schema, value);
}

function parse<T>(schema: ZodType<T, ZodTypeDef, unknown>, value: unknown): T {
  const res = schema.safeParse(value);
  if (!res.success) invalid(res.error.issues, 'body');
  return res.data;
}
