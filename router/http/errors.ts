/**
 * The router's own answers (docs/contracts.md §Error answers): an error counted (rejected, and
 * requests by cell and status) and answered in the JSON shape with its headers; the 404 of
 * every path outside the routes, and the answer to an error nothing caught.
 */
import type { Context, Hono } from 'hono';
import { HttpError } from '../../shared/errors.js';
import { REQUEST_ID_HEADER } from '../proxy/headers.js';
import type { Env, RouterDeps } from './deps.js';

/** Answers `err` for `cell` ('-' before one is known), with the request id when there is one. */
export type ErrorAnswer = (c: Context<Env>, err: HttpError, cell: string, requestId?: string) => Response;

/** 5xx codes that describe a cell's or the table's state, not a router fault: answered without a log line. */
const EXPECTED_5XX = new Set(['cell_unavailable', 'market_migrating', 'overloaded', 'not_ready']);

/** The router's error answer over its metrics and logger. */
export function errorAnswerer({ metrics, logger }: Pick<RouterDeps, 'metrics' | 'logger'>): ErrorAnswer {
  return (c, err, cell, requestId) => {
    metrics.rejected.inc({ reason: err.code });
    metrics.requests.inc({ cell, status: String(err.status) });
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    if (requestId) c.header(REQUEST_ID_HEADER, requestId);
    if (err.status >= 500 && !EXPECTED_5XX.has(err.code)) {
      logger.warn({ requestId, cell, code: err.code, msg: err.message }, 'router answered an error');
    }
    return c.json(err.body(), err.status as 400);
  };
}

/** Installs, after every route, `404 not_found` for any other path and the answer to an uncaught error. */
export function installFallbacks(app: Hono<Env>, { logger }: Pick<RouterDeps, 'logger'>, answer: ErrorAnswer): void {
  app.all('*', (c) => c.json(new HttpError('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`).body(), 404));

  app.onError((err, c) => {
    if (err instanceof HttpError) return answer(c, err, '-');
    logger.error({ err }, 'unhandled error');
    return c.json(new HttpError('internal', 'internal error').body(), 500);
  });
}
