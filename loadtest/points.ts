/**
 * What the drill analysis reads: one point per request the traffic model sent, as vegeta
 * reported it, plus the failovers and retries the model made (explicit, counted, never hidden).
 * A vegeta result becomes a point through {@link requestPoint}, which needs only the result: the
 * traffic model tags every target's URL fragment (never sent on the wire) with the market, its
 * owner, the plane, the replica, the operation and the attempt.
 */
import { answerCode, urlTags, type VegetaResult } from '../infra/vegeta/index.js';

/** One request as vegeta recorded it. Times are epoch milliseconds. */
export interface RequestPoint {
  /** When the request was sent. */
  start: number;
  /** When the answer (or the error) came. */
  end: number;
  /** How long the client waited, ms. */
  ms: number;
  market: string;
  /** The cell that owned the market when the plan was made. */
  owner: string;
  /** The cell that answered (its `x-cell-id`); empty when the answer named none (or no answer came). */
  cell: string;
  plane: string;
  replica: string;
  op: string;
  status: number;
  /**
   * The JSON error code, `net_*` when no HTTP answer came, `http_<status>` otherwise, `none` on
   * success; the analysis turns a success from the wrong cell into `wrong_cell`.
   */
  code: string;
  scope: 'faulted' | 'other';
  /** first, failover (sent again to another replica after a refused connection) or retry (after a 503 with Retry-After). */
  attempt: string;
  failed: boolean;
}

/** A connection refused by a replica that the model sent to another replica instead. */
export interface FailoverPoint {
  time: number;
  plane: string;
  replica: string;
}

/** A `503 market_migrating` that the model sent again after its Retry-After. */
export interface RetryPoint {
  time: number;
  market: string;
  owner: string;
  plane: string;
  code: string;
}

/** Everything the analysis needs from one run. */
export interface TrafficPoints {
  requests: RequestPoint[];
  failovers: FailoverPoint[];
  retries: RetryPoint[];
}

/** The statuses each operation expects; anything else is a failed request. */
export const EXPECTED: Record<string, readonly number[]> = {
  create: [200, 201],
  read: [200],
  get: [200],
  list: [200],
  cancel: [200, 409],
};

/** Turns a tagged vegeta result into a request point; `faultCells` decide its scope. */
export function requestPoint(r: VegetaResult, faultCells: readonly string[]): RequestPoint {
  const tags = urlTags(r.url);
  const owner = tags.o ?? '';
  const op = tags.op ?? '';
  return {
    start: r.start,
    end: r.start + r.latencyMs,
    ms: Math.round(r.latencyMs * 1000) / 1000,
    market: tags.m ?? '',
    owner,
    cell: r.headers['x-cell-id'] ?? '',
    plane: tags.p ?? '',
    replica: tags.r ?? '',
    op,
    status: r.code,
    code: answerCode(r),
    scope: faultCells.includes(owner) ? 'faulted' : 'other',
    attempt: tags.a ?? 'first',
    failed: !(EXPECTED[op] ?? [200]).includes(r.code),
  };
}
