/** Market ID rules (docs/contracts.md §Request contract): the one place both data planes and the operators read them. */

/** A market ID: lower-case letters, digits and dashes, starting with a letter or digit, 1–63 chars. */
export const MARKET_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
export const MARKET_ID_RE = new RegExp(MARKET_ID_PATTERN);

/** The request header that names the market. */
export const MARKET_HEADER = 'x-market-id';
/** The response header that names the cell that served the request. */
export const CELL_HEADER = 'x-cell-id';
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
