/**
 * The console's sessions (docs/console.md §Sessions): a login with one of the admin API's tokens
 * opens a session whose random id travels in an HttpOnly, SameSite=Strict cookie; the token
 * stays in this process and never reaches the browser again nor any URL. Bounded in count and
 * age; a process restart logs everyone out.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { NamedToken } from '../../shared/tokens.js';

/** The cookie's name. */
export const SESSION_COOKIE = 'cellsim_console';

/** A logged-in browser: the token it presented, with its name and scope. */
export interface ConsoleSession {
  id: string;
  token: NamedToken;
  expiresAt: number;
}

/** Options of {@link SessionStore}. */
export interface SessionOptions {
  /** How long a session lives, ms [8 h]. */
  ttlMs?: number;
  /** The most sessions held at once; the oldest goes first [1,000]. */
  max?: number;
  now?: () => number;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** The admin token `given` matches (constant-time against each), or undefined. */
export function matchToken(tokens: readonly NamedToken[], given: string): NamedToken | undefined {
  const g = sha256(given);
  let found: NamedToken | undefined;
  for (const t of tokens) if (timingSafeEqual(sha256(t.token), g) && !found) found = t;
  return found;
}

/** The sessions of one control plane. */
export class SessionStore {
  private readonly sessions = new Map<string, ConsoleSession>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(
    private readonly tokens: readonly NamedToken[],
    o: SessionOptions = {},
  ) {
    this.ttlMs = o.ttlMs ?? 8 * 3600_000;
    this.max = o.max ?? 1000;
    this.now = o.now ?? Date.now;
  }

  /** Opens a session for `given` and sets its cookie; undefined (no cookie) when no admin token matches. */
  login(c: Context, given: string): ConsoleSession | undefined {
    const token = matchToken(this.tokens, given.trim());
    if (!token) return undefined;
    while (this.sessions.size >= this.max) this.sessions.delete(this.sessions.keys().next().value as string);
    const s: ConsoleSession = { id: randomBytes(32).toString('base64url'), token, expiresAt: this.now() + this.ttlMs };
    this.sessions.set(s.id, s);
    setCookie(c, SESSION_COOKIE, s.id, {
      path: '/ui',
      httpOnly: true,
      sameSite: 'Strict',
      secure: new URL(c.req.url).protocol === 'https:',
      maxAge: Math.floor(this.ttlMs / 1000),
    });
    return s;
  }

  /** The request's live session, or undefined. */
  get(c: Context): ConsoleSession | undefined {
    const id = getCookie(c, SESSION_COOKIE);
    const s = id === undefined ? undefined : this.sessions.get(id);
    if (s && s.expiresAt <= this.now()) {
      this.sessions.delete(s.id);
      return undefined;
    }
    return s;
  }

  /** Ends the request's session and clears its cookie. */
  logout(c: Context): void {
    const s = this.get(c);
    if (s) this.sessions.delete(s.id);
    deleteCookie(c, SESSION_COOKIE, { path: '/ui' });
  }

  /** How many sessions are open. */
  get size(): number {
    return this.sessions.size;
  }
}
