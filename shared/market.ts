/** Market ID rules (docs/contracts.md §Request contract): the one place both data planes and the operators read them. */

/** A market ID: lower-case letters, digits and dashes, starting with a letter or digit, 1–63 chars. */
export const MARKET_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
export const MARKET_ID_RE = new RegExp(MARKET_ID_PATTERN);

/** The request header that names the market. */
export const MARKET_HEADER = 'x-market-id';
/** The response header that names the cell that served the request. */
export const CELL_HEADER = 'x-cell-id';
/**
 * The request header Envoy's cell routes add (value `307`): this request's edge follows a `307` to
 * the same URL by routing it again. A cell answers a write to a market frozen under it with that
 * `307` instead of `409 market_frozen`, so a write Envoy sent before it heard of the freeze is held
 * and released to the new owner (docs/contracts.md §Request contract). The router strips it, as
 * every `x-cellsim-*` header of a client.
 */
export const EDGE_REDIRECT_HEADER = 'x-cellsim-edge-redirect';
/** Paths under this prefix go to the global cell and need no market. */
export const GLOBAL_PATH_PREFIX = '/v1/global/';

/** True when `id` is a well-formed market ID. */
export function isMarketId(id: unknown): id is string {
  return typeof id === 'string' && MARKET_ID_RE.test(id);
}

/** Result of reading the market from a request's headers. */
export type MarketExtraction = { ok: true; market: string } | { ok: false; code: 'missing_market' | 'invalid_market'; message: string };

/**
 * Reads the market from the raw header value(s). Several values (a repeated header, or a
 * comma-joined one) are refused as invalid: a request names exactly one market.
 */
export function extractMarket(raw: string | string[] | null | undefined): MarketExtraction {
  if (raw === undefined || raw === null) {
    return { ok: false, code: 'missing_market', message: `header ${MARKET_HEADER} is required` };
  }
  if (Array.isArray(raw)) {
    if (raw.length === 0) return extractMarket(undefined);
    if (raw.length > 1) {
      return { ok: false, code: 'invalid_market', message: `header ${MARKET_HEADER} must appear once` };
    }
    return extractMarket(raw[0]);
  }
  if (raw === '') {
    return { ok: false, code: 'missing_market', message: `header ${MARKET_HEADER} is empty` };
  }
  if (raw.includes(',')) {
    return { ok: false, code: 'invalid_market', message: `header ${MARKET_HEADER} must name one market` };
  }
  if (!MARKET_ID_RE.test(raw)) {
    return {
      ok: false,
      code: 'invalid_market',
      message: `market id must match ${MARKET_ID_PATTERN} (lower case, digits, dashes, at most 63 chars)`,
    };
  }
  return { ok: true, market: raw };
}

/** The one path prefix the edge serves (docs/contracts.md §Request contract): anything else is `404 not_found`. */
export const EDGE_PATH_PREFIX = '/v1/';

/**
 * What makes a raw request path (its query left out) non-canonical, refused `400 invalid_request`
 * by both data planes before routing, as the client sent it (never normalized first): encoded dots,
 * slashes, backslashes and NUL, a raw backslash, and an empty segment (a double slash). Compared
 * case-insensitively. Dot segments (`.` or `..` between slashes or at the end) are refused too
 * ({@link hasDotSegment}). The Envoy listener's Lua filter is generated from this list.
 */
export const FORBIDDEN_PATH_PARTS = ['%2e', '%2f', '%5c', '%00', '\\', '//'] as const;

/** True when `path` has a `.` or `..` segment. */
export function hasDotSegment(path: string): boolean {
  return /(^|\/)\.\.?(\/|$)/.test(path);
}

/** The raw path (query left out) of a request target. */
export function pathOnly(rawTarget: string): string {
  const q = rawTarget.indexOf('?');
  return q >= 0 ? rawTarget.slice(0, q) : rawTarget;
}

/**
 * Classifies a raw request target for the edge: `invalid` (400 invalid_request: a non-canonical
 * path, see {@link FORBIDDEN_PATH_PARTS}), `outside` (404 not_found: not under {@link EDGE_PATH_PREFIX},
 * compared case-sensitively), or `ok`. The invalid check comes first.
 */
export function classifyEdgePath(rawTarget: string): 'ok' | 'invalid' | 'outside' {
  const path = pathOnly(rawTarget);
  const lower = path.toLowerCase();
  if (FORBIDDEN_PATH_PARTS.some((p) => lower.includes(p)) || hasDotSegment(path)) return 'invalid';
  return path.startsWith(EDGE_PATH_PREFIX) ? 'ok' : 'outside';
}
