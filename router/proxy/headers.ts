/**
 * Header handling of the proxy. Hop-by-hop fields are dropped in both directions, with every
 * field the Connection header names (RFC 9110 §7.6.1,
 * https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1). Internal routing headers sent by a
 * client (`x-cell-id`, `x-cellsim-*`, `x-envoy-*`) are dropped so no client can pick a cell
 * (docs/contracts.md §Request contract); `x-forwarded-for`, `x-forwarded-host`, `x-forwarded-proto` and `x-request-id`
 * are set.
 */
import { randomUUID } from 'node:crypto';
import { CELL_HEADER } from '../../shared/market.js';

/** Hop-by-hop fields of RFC 9110 §7.6.1 (and `proxy-connection`, a common non-standard one). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
]);

/** The request-id header. */
export const REQUEST_ID_HEADER = 'x-request-id';

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** True for client headers that must never reach a cell. */
export function isInternalHeader(name: string): boolean {
  return name === CELL_HEADER || name.startsWith('x-cellsim-') || name.startsWith('x-envoy-');
}

/** The client's request id when it is well-formed, else a new one. */
export function requestIdFrom(value: string | undefined | null): string {
  return value && REQUEST_ID_RE.test(value) ? value : randomUUID();
}

const NO_TOKENS: ReadonlySet<string> = new Set();

function connectionTokens(value: string | undefined): ReadonlySet<string> {
  // the common values name only hop-by-hop fields that are dropped anyway
  if (!value || value === 'keep-alive' || value === 'close') return NO_TOKENS;
  const out = new Set<string>();
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (token) out.add(token);
  }
  return out;
}

/** Header fields as node gives them (lower-case names; repeated fields joined or listed). */
export type HeaderRecord = Record<string, string | string[] | undefined>;

/** A web `Headers` as a {@link HeaderRecord} (for the app.request() path). */
export function headerRecord(headers: Headers): HeaderRecord {
  const out: HeaderRecord = {};
  headers.forEach((value, name) => (out[name] = value));
  return out;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Request fields for the upstream: hop-by-hop, internal, `host` and `expect` dropped; forwarding fields set. */
export function upstreamRequestHeaders(
  headers: HeaderRecord,
  ctx: { clientIp: string | undefined; requestId: string; proto: string },
): Record<string, string | string[]> {
  const named = connectionTokens(first(headers.connection));
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || isInternalHeader(name)) continue;
    if (name === 'host' || name === 'expect' || name === REQUEST_ID_HEADER || name === 'x-forwarded-for') continue;
    out[name] = value;
  }
  const host = first(headers.host);
  if (host) out['x-forwarded-host'] = host;
  out['x-forwarded-proto'] = ctx.proto;
  const prior = first(headers['x-forwarded-for']);
  if (ctx.clientIp) out['x-forwarded-for'] = prior ? `${prior}, ${ctx.clientIp}` : ctx.clientIp;
  else if (prior) out['x-forwarded-for'] = prior;
  out[REQUEST_ID_HEADER] = ctx.requestId;
  return out;
}

/** Response fields for the client: hop-by-hop dropped, `x-cell-id` and `x-request-id` set by the router. */
export function clientResponseHeaders(upstream: HeaderRecord, cell: string, requestId: string): Record<string, string | string[]> {
  const named = connectionTokens(first(upstream.connection));
  const out: Record<string, string | string[]> = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || name === CELL_HEADER) continue;
    out[name] = value;
  }
  out[CELL_HEADER] = cell;
  out[REQUEST_ID_HEADER] = requestId;
  return out;
}

/** A header record as web `Headers` (repeated fields appended). */
export function toHeaders(record: Record<string, string | string[]>): Headers {
  const h = new Headers();
  for (const [name, value] of Object.entries(record)) {
    if (Array.isArray(value)) for (const v of value) h.append(name, v);
    else h.set(name, value);
  }
  return h;
}
