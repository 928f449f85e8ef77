/**
 * The errors of the Consul client: one kind, {@link ConsulError}, in cellsim's error family
 * (shared/errors.ts), with a stable code callers may branch on (never the message).
 */
import { CellsimError, DOMAIN_ERROR_CODES } from '../errors.js';

/** Every code a {@link ConsulError} carries. */
export const CONSUL_ERROR_CODES = [
  'consul_unavailable',
  'consul_http',
  'consul_invalid_answer',
  'consul_aborted',
  'consul_token',
  'consul_tls',
] as const;

/** A stable Consul error code; each is described in DOMAIN_ERROR_CODES and docs/errors.md. */
export type ConsulErrorCode = (typeof CONSUL_ERROR_CODES)[number] & keyof typeof DOMAIN_ERROR_CODES;

/** An error of the Consul client. */
export class ConsulError extends CellsimError {
  declare readonly code: ConsulErrorCode;
  /** The HTTP status, for `consul_http`. */
  readonly status: number | undefined;

  constructor(code: ConsulErrorCode, message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(code, message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConsulError';
    this.status = opts.status;
  }
}

/** True when `err` is a {@link ConsulError}, and when `codes` are given, one with one of them. */
export function isConsulError(err: unknown, ...codes: ConsulErrorCode[]): err is ConsulError {
  return err instanceof ConsulError && (codes.length === 0 || codes.includes(err.code));
}
