/** The JSON error shape (docs/contracts.md §Error answers), and the stable codes every part answers with. */

/** Every stable error code a cellsim HTTP endpoint may answer with, with its status and meaning. */
export const ERROR_CODES = {
  missing_market: { status: 400, doc: 'market-scoped path without an x-market-id header' },
  invalid_market: { status: 400, doc: 'x-market-id does not match the market ID rules, or appears twice' },
  unknown_market: { status: 404, doc: 'no cell owns this market' },
  market_migrating: { status: 503, doc: 'the market is frozen by a migration past the hold bound' },
  cell_unavailable: { status: 503, doc: 'the owning cell has no healthy endpoint or its breaker is open' },
  market_frozen: { status: 409, doc: 'the cell refuses writes to a market frozen for migration' },
  invalid_request: { status: 400, doc: 'the body or query failed validation' },
  invalid_json: { status: 400, doc: 'the body is not valid JSON' },
  unsupported_media_type: { status: 415, doc: 'the body is not application/json' },
  payload_too_large: { status: 413, doc: 'the body is over the size limit' },
  headers_too_large: { status: 431, doc: 'request headers are over the size limit' },
  not_found: { status: 404, doc: 'no such resource or route' },
  idempotency_key_required: { status: 400, doc: 'POST /v1/orders without an Idempotency-Key' },
  idempotency_conflict: { status: 422, doc: 'Idempotency-Key reused with another body' },
  conflict: { status: 409, doc: 'the resource is in a state that forbids this action' },
  cell_not_empty: { status: 409, doc: 'the cell still owns markets: retiring it needs an evacuation first' },
  cell_busy: { status: 409, doc: 'a migration, evacuation or rollout involving the cell is still running; retry when it ends' },
  cell_start_failed: {
    status: 503,
    doc: 'an added cell did not start: its host, its process or its first passing check failed (the message says which and why); what was made is removed',
  },
  cell_stop_failed: {
    status: 503,
    doc: 'a retired cell did not stop: its process, its delivery service or its host could not be removed (the message says why); its cell record stays, draining',
  },
  unauthorized: { status: 401, doc: 'missing or wrong bearer token' },
  forbidden: { status: 403, doc: "the bearer token is valid but its scope does not allow this action (a read token's mutation)" },
  upstream_timeout: { status: 504, doc: 'the cell did not answer in time' },
  bad_gateway: { status: 502, doc: 'the cell connection failed after the request was sent' },
  overloaded: { status: 503, doc: 'a concurrency bound is full' },
  not_ready: { status: 503, doc: 'the router has not loaded a complete routing table yet' },
  injected_fault: { status: 500, doc: 'an error injected by the fault API' },
  internal: { status: 500, doc: 'an unexpected error (logged)' },
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** Builds the contract's JSON error body. */
export function errorBody(code: ErrorCode, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/**
 * Stable codes of the errors a caller inside cellsim branches on (in the style of undici's
 * `UND_ERR_*`). They stay inside the processes: an HTTP edge maps them to a contract code above.
 */
export const DOMAIN_ERROR_CODES = {
  unknown_cell: 'no cell of that id in this topology',
  invalid_key: 'a Consul key segment (market, cell or rollout ID) is not a valid ID: refused before any read or write',
  no_capacity: 'no active cell has room for a market',
  lost_lock: "a migration's Consul session lock was lost: another control plane may hold it now",
  shutting_down: 'the process is shutting down: the work stops where it is and resumes after a restart',
  courier_unavailable: 'the simulated courier service failed, or the call to it was aborted',
  inconsistent_snapshot: 'an xDS snapshot failed its consistency check and was not published',
  command_failed: 'an operator command failed; the error carries its exit code',
  consul_unavailable: 'no answer from Consul: refused, reset, or not within the timeout',
  consul_http: 'Consul answered with an unexpected HTTP status (`status` holds it)',
  consul_invalid_answer: 'Consul answered with a body of an unexpected shape',
  consul_aborted: "the caller's signal cancelled a Consul request",
  consul_token: 'the Consul ACL token file named by CELLSIM_CONSUL_TOKEN_FILE cannot be read or is empty',
  consul_tls: 'the CA certificate file named by CELLSIM_CONSUL_CACERT cannot be read or holds no PEM certificate',
  invalid_token_config:
    'an admin token, its file or the tokens file is unreadable, malformed or repeats another: the process refuses to start',
  invalid_tls_config: 'a TLS file (CA, certificate or key) cannot be read: the process refuses to start',
} as const;

/** A stable domain error code. */
export type DomainErrorCode = keyof typeof DOMAIN_ERROR_CODES;

/** Every code a {@link CellsimError} carries: a contract code (an {@link HttpError}) or a domain code. */
export type CellsimErrorCode = ErrorCode | DomainErrorCode;

/**
 * The base of cellsim's error family: `code` is stable and is what callers branch on; the
 * message is for people and may change. Each kind is a subclass that fixes its code.
 */
export class CellsimError extends Error {
  readonly code: CellsimErrorCode;

  constructor(code: CellsimErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CellsimError';
    this.code = code;
  }
}

/** True when `err` is a {@link CellsimError}, and when `codes` are given, one with one of them. */
export function isCellsimError<C extends CellsimErrorCode>(err: unknown, ...codes: C[]): err is CellsimError & { code: C } {
  return err instanceof CellsimError && (codes.length === 0 || (codes as CellsimErrorCode[]).includes(err.code));
}

/** No cell of that id exists (code `unknown_cell`). */
export class UnknownCellError extends CellsimError {
  readonly cell: string;

  constructor(cell: string, message = `unknown cell '${cell}'`) {
    super('unknown_cell', message);
    this.name = 'UnknownCellError';
    this.cell = cell;
  }
}

/** No active cell has room for a market (code `no_capacity`). */
export class NoCapacityError extends CellsimError {
  readonly market: string;

  constructor(market: string, message = `no active cell has room for ${market}`) {
    super('no_capacity', message);
    this.name = 'NoCapacityError';
    this.market = market;
  }
}

/** A Consul key segment that is not a valid ID (code `invalid_key`): KvLayout builds no key from it. */
export class InvalidKeyError extends CellsimError {
  readonly segment: string;

  constructor(kind: string, segment: string) {
    super('invalid_key', `'${segment.slice(0, 80)}' is not a ${kind} id (^[a-z0-9][a-z0-9-]{0,62}$)`);
    this.name = 'InvalidKeyError';
    this.segment = segment;
  }
}

/** An error that carries its HTTP status and stable code; the edge turns it into the JSON shape. */
export class HttpError extends CellsimError {
  readonly status: number;
  declare readonly code: ErrorCode;
  readonly details: unknown;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, opts: { details?: unknown; headers?: Record<string, string>; status?: number } = {}) {
    super(code, message);
    this.name = 'HttpError';
    this.status = opts.status ?? ERROR_CODES[code].status;
    this.details = opts.details;
    this.headers = opts.headers ?? {};
  }

  /** The JSON body for this error. */
  body(): ErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}
