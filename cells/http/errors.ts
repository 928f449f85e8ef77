/** The edge's error handling: every error becomes the JSON shape of docs/contracts.md §Error answers; unknown ones are logged 500s. */
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { HttpError, errorBody } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

/** Answers an {@link HttpError} with its status, headers and JSON body. */
export function sendError(c: Context, err: HttpError): Response {
  return c.json(err.body(), err.status as ContentfulStatusCode, err.headers);
}

/** hono `onError`: HttpErrors as they are, anything else logged and answered `500 internal`. */
export function errorHandler(logger: Logger): ErrorHandler {
  return (err, c) => {
    if (err instanceof HttpError) return sendError(c, err);
    logger.error({ err, path: c.req.path, method: c.req.method, requestId: c.res.headers.get('x-request-id') }, 'unhandled error');
    return c.json(errorBody('internal', 'internal error'), 500);
  };
}

/** hono `notFound`: `404 not_found` in the JSON shape. */
export const notFoundHandler: NotFoundHandler = (c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404);
