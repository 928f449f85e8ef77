/** Bearer-token protection of the cell's admin API: its own token (the cell-admin token), never an operator's. */
import type { MiddlewareHandler } from 'hono';
import { tokenAuth } from '../../shared/token-auth.js';

/**
 * Requires `Authorization: Bearer <cell-admin token>` (hono's bearer-auth through
 * shared/token-auth.ts; `401 unauthorized` otherwise). With no token configured every admin
 * request is refused: an unprotected admin API is never served.
 */
export function cellAdminAuth(token: string | undefined): MiddlewareHandler {
  return tokenAuth({
    tokens: token ? [{ name: 'cell-admin', scope: 'operator', token }] : [],
    what: "cell's admin API",
    scopeOf: () => 'operator',
  });
}
