/** Runs a mutation with its audit record (docs/contracts.md §Consul keys, `cellsim/audit/`): who (the token's name), what, before, after, result. */
import type { Context } from 'hono';
import { HttpError } from '../../../shared/errors.js';
import { claimed, who, type AdminDeps } from './deps.js';

/** What a mutation hands back: the audit's `after` and result (default `ok`), and the answer's body. */
export interface Outcome {
  after?: unknown;
  result?: 'ok' | 'dry-run' | 'started';
  out: Record<string, unknown>;
}

/**
 * Runs `act` and records it; a throw is recorded as `refused` (an HttpError below 500) or
 * `failed` (anything else), with its message, and thrown on. Answers `act`'s `out`.
 */
export async function audited(
  d: Pick<AdminDeps, 'audit'>,
  c: Context,
  action: string,
  target: string,
  params: unknown,
  before: unknown,
  act: () => Promise<Outcome>,
): Promise<Record<string, unknown>> {
  const by = { who: who(c), ...(claimed(c) === undefined ? {} : { claimed: claimed(c) }) };
  try {
    const r = await act();
    await d.audit.record({ ...by, action, target, params, before, after: r.after, result: r.result ?? 'ok' });
    return r.out;
  } catch (err) {
    const refused = err instanceof HttpError && err.status < 500;
    await d.audit.record({
      ...by,
      action,
      target,
      params,
      before,
      result: refused ? 'refused' : 'failed',
      error: (err as Error).message,
    });
    throw err;
  }
}
