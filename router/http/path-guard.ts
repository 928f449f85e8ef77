/** The raw request path, and the check of it every request passes first: no dot segments, encoded separators or backslashes. */
import type { Context, Hono } from 'hono';
import { HttpError } from '../../shared/errors.js';
import type { Env } from './deps.js';
import type { ErrorAnswer } from './errors.js';

/** Dot segments, encoded dots/slashes and backslashes: paths that try to escape their prefix. */
const ESCAPING_PATH = /(^|\/)\.\.?(\/|$)|%2e|%2f|%5c|\\/i;

/** The path and query as the client sent them (node's `url`), else as the web Request has them. */
export function rawPathOf(c: Context<Env>): string {
  const raw = c.env?.incoming?.url;
  if (raw !== undefined) return raw;
  const u = new URL(c.req.url);
  return `${u.pathname}${u.search}`;
}

/** True when the raw path (its query left out) tries to escape its prefix. */
export function escapesPrefix(rawPath: string): boolean {
  const q = rawPath.indexOf('?');
  return ESCAPING_PATH.test(q >= 0 ? rawPath.slice(0, q) : rawPath);
}

/** Installs the check, before every route: `400 invalid_request` for an escaping path. */
export function installPathGuard(app: Hono<Env>, answer: ErrorAnswer): void {
  // Checked on the raw path, before routing: URL parsing would remove the dot segments.
  app.use('*', async (c: Context<Env>, next): Promise<Response | undefined> => {
    if (escapesPrefix(rawPathOf(c))) {
      return answer(c, new HttpError('invalid_request', 'path must not contain dot segments or encoded separators'), '-');
    }
    await next();
    return undefined;
  });
}
