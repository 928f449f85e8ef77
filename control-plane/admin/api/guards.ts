/**
 * The admin API's guards: every error answered in the JSON shape of docs/errors.md, and every
 * mutation (any method but GET and HEAD) behind `Authorization: Bearer <admin token>`.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Hono } from 'hono';
import { HttpError, errorBody } from '../../../shared/errors.js';
import type { AdminDeps } from './deps.js';

/** Compares two tokens in constant time. */
export function sameToken(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Installs the error mapping (an {@link HttpError} with its status, code and headers; anything
 * else logged and answered `500 internal`) and the token check; before any route.
 */
export function installGuards(app: Hono, d: Pick<AdminDeps, 'token' | 'log'>): void {
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
}
