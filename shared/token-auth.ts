/**
 * Bearer-token checks of every admin surface (the control plane's admin API, a cell's admin API,
 * the supervisor's control channel), built on hono's own bearer-auth middleware: answers in the
 * JSON error shape (docs/errors.md), records which named token a request used, and checks its
 * scope. hono's bodyLimit, with the contract's 413, is here too.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Env, MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { HttpError, errorBody } from './errors.js';
import type { NamedToken, Scope } from './tokens.js';

/** Who a request acts as: the name and scope of the token it presented. */
export interface Caller {
  name: string;
  scope: Scope;
}

declare module 'hono' {
  interface ContextVariableMap {
    caller: Caller;
  }
}

/** The caller {@link tokenAuth} let through, or undefined before it ran. */
export function callerOf(c: Context): Caller | undefined {
  const caller: Caller | undefined = c.get('caller');
  return caller;
}

/** Options of {@link tokenAuth}. */
export interface TokenAuthOptions {
  /** The tokens accepted; none: every request is refused (a surface without a token is never open). */
  tokens: readonly NamedToken[];
  /** The surface, for messages: `admin API`, `control channel`. */
  what: string;
  /**
   * The scope a request needs (default: `read` for GET and HEAD, `operator` for anything else).
   * A token of too small a scope gets `403 forbidden`.
   */
  scopeOf?: (c: Context) => Scope;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** The token `given` matches, compared in constant time against every token. */
function find(tokens: readonly NamedToken[], given: string): NamedToken | undefined {
  const g = sha256(given);
  let found: NamedToken | undefined;
  for (const t of tokens) if (timingSafeEqual(sha256(t.token), g) && !found) found = t;
  return found;
}

/** A 401 in the contract's JSON shape, with hono's WWW-Authenticate challenge added. */
const refuse = (message: string) => (c: Context) => c.json(errorBody('unauthorized', message), 401);

/**
 * Requires `Authorization: Bearer <token>` with one of `tokens` (hono's bearerAuth): `401
 * unauthorized` without a header, with a malformed one or a token not listed; `403 forbidden`
 * when its scope is too small. Sets the request's {@link Caller}.
 */
export function tokenAuth(o: TokenAuthOptions): MiddlewareHandler {
  const scopeOf = o.scopeOf ?? ((c: Context) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? 'read' : 'operator'));
  const tokens = [...o.tokens];
  const auth = bearerAuth({
    verifyToken: (given, c) => {
      const t = find(tokens, given);
      if (t) c.set('caller', { name: t.name, scope: t.scope });
      return t !== undefined;
    },
    noAuthenticationHeader: { message: refuse(`missing bearer token (Authorization: Bearer <token>) for the ${o.what}`) },
    invalidAuthenticationHeader: { message: refuse(`malformed Authorization header for the ${o.what} (Authorization: Bearer <token>)`) },
    invalidToken: { message: refuse(`wrong token for the ${o.what}`) },
  });
  return async (c: Context<Env, string>, next) => {
    if (tokens.length === 0) throw new HttpError('unauthorized', `the ${o.what} is disabled: no token is configured`);
    try {
      await auth(c, async () => {
        const caller = callerOf(c)!;
        const need = scopeOf(c);
        if (need === 'operator' && caller.scope !== 'operator') {
          throw new HttpError('forbidden', `token '${caller.name}' has the ${caller.scope} scope; this needs an operator token`);
        }
        await next();
      });
      return undefined;
    } catch (err) {
      if (err instanceof HTTPException) return err.getResponse();
      throw err;
    }
  };
}

/** hono's bodyLimit answering `413 payload_too_large` in the contract's JSON shape. */
export function jsonBodyLimit(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => c.json(errorBody('payload_too_large', `request body is over ${maxBytes} bytes`), 413),
  });
}
