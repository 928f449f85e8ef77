/**
 * The admin API's guards: every error answered in the JSON shape of docs/errors.md, a body
 * limit, and every route behind `Authorization: Bearer <token>` (hono's bearer-auth through
 * shared/token-auth.ts): reads (GET, HEAD) take a read or an operator token, every mutation an
 * operator token (a read token gets `403 forbidden`).
 */
import type { Hono } from 'hono';
import { HttpError, errorBody, isCellsimError } from '../../../shared/errors.js';
import { jsonBodyLimit, tokenAuth } from '../../../shared/token-auth.js';
import type { AdminDeps } from './deps.js';

/** The message of every 500: what failed stays in the log, never in the answer. */
export const INTERNAL_MESSAGE = 'internal error (details in the control plane log)';

/** The largest mutation body the admin API reads (a rollout's defect is the largest). */
export const ADMIN_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Installs the error mapping (an {@link HttpError} below 500 with its status, code and headers;
 * a key segment KvLayout refused as `400 invalid_request`; anything else, and an HttpError of
 * 500, logged and answered `500 internal` with a generic message), the token check and the
 * body limit; before any route.
 */
export function installGuards(app: Hono, d: Pick<AdminDeps, 'tokens' | 'log'>): void {
  app.onError((err, c) => {
    if (err instanceof HttpError && err.status !== 500) return c.json(err.body(), err.status as 400, err.headers);
    if (isCellsimError(err, 'invalid_key')) return c.json(errorBody('invalid_request', err.message), 400);
    d.log.error({ err: err.message, stack: err.stack, path: c.req.path }, 'admin request failed');
    return c.json(errorBody('internal', INTERNAL_MESSAGE), 500);
  });
  app.use('*', tokenAuth({ tokens: d.tokens, what: 'admin API' }));
  app.use('*', jsonBodyLimit(ADMIN_BODY_LIMIT_BYTES));
}
