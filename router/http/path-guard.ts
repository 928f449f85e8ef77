/**
 * The raw request path, and the check of it every request passes first (docs/contracts.md
 * §Request contract, the rule in shared/market.ts `classifyEdgePath`, the same one Envoy's Lua
 * filter applies): a non-canonical path (dot segments, encoded dots, slashes, backslashes or NUL,
 * a backslash, a double slash) is `400 invalid_request`; a path outside `/v1/` is `404 not_found`,
 * except the router's own `/healthz`, `/readyz`, `/metrics` and `/route`. A header name with an underscore
 * is `400 invalid_request` too (some servers read `_` as `-`; Envoy's listener refuses them the
 * same way). Nothing refused here reaches a cell.
 */
import type { Context, Hono } from 'hono';
import { HttpError } from '../../shared/errors.js';
import { classifyEdgePath, pathOnly } from '../../shared/market.js';
import type { Env } from './deps.js';
import type { ErrorAnswer } from './errors.js';

/** The router's own endpoints (ops-routes.ts), the only paths outside `/v1/` it answers. */
export const ROUTER_OWN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics', '/route']);

/** The path and query as the client sent them (node's `url`), else as the web Request has them. */
export function rawPathOf(c: Context<Env>): string {
  const raw = c.env?.incoming?.url;
  if (raw !== undefined) return raw;
  const u = new URL(c.req.url);
  return `${u.pathname}${u.search}`;
}

/** True when a request header name has an underscore (node's raw header lines, else the web Request's). */
export function hasUnderscoreHeader(c: Context<Env>): boolean {
  const raw = c.env?.incoming?.rawHeaders;
  if (raw !== undefined) {
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.includes('_')) return true;
    return false;
  }
  for (const name of c.req.raw.headers.keys()) if (name.includes('_')) return true;
  return false;
}

/** Installs the check, before every route: `400 invalid_request` for a non-canonical path, `404 not_found` outside `/v1/`. */
export function installPathGuard(app: Hono<Env>, answer: ErrorAnswer): void {
  // Checked on the raw path, before routing: URL parsing would remove the dot segments.
  app.use('*', async (c: Context<Env>, next): Promise<Response | undefined> => {
    const raw = rawPathOf(c);
    const kind = classifyEdgePath(raw);
    if (kind === 'invalid') {
      return answer(
        c,
        new HttpError('invalid_request', 'path must not contain dot segments, encoded separators, NUL or empty segments'),
        '-',
      );
    }
    if (kind === 'outside' && !ROUTER_OWN_PATHS.has(pathOnly(raw))) {
      return answer(c, new HttpError('not_found', 'only /v1/ paths are served here'), '-');
    }
    if (hasUnderscoreHeader(c)) {
      return answer(c, new HttpError('invalid_request', 'header names must not contain underscores'), '-');
    }
    await next();
    return undefined;
  });
}
