/** Bearer-token protection of the admin API. */
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { HttpError } from '../../shared/errors.js';

/**
 * Requires `Authorization: Bearer <token>` (401 `unauthorized` otherwise). With no token
 * configured every admin request is refused: an unprotected admin API is never served.
 */
export function bearerAuth(token: string | undefined): MiddlewareHandler {
  const want = token ? Buffer.from(token) : undefined;
  return async (_c, next) => {
    const header = _c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    const got = m ? Buffer.from(m[1]!.trim()) : undefined;
    if (want === undefined || got === undefined || got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new HttpError(
        'unauthorized',
        want === undefined ? 'admin API disabled: no admin token configured' : 'missing or wrong bearer token',
      );
    }
    await next();
  };
}
