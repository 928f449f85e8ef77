/**
 * LDS: the edge listener of one Envoy (its address comes from the node's metadata, so the
 * listener is per node) with an HTTP connection manager that implements docs/contracts.md §Request contract:
 * - a tiny Lua filter checks the path as the client sent it (shared/market.ts
 *   `classifyEdgePath`, the rule the Node router applies): a non-canonical path is flagged for
 *   the invalid_request mapper, a path outside `/v1/` gets no scope (404 not_found); then it
 *   drops client `x-envoy-*` headers and derives the internal scope header: `g` for
 *   `/v1/global/` paths, `m/<market>` from a well-formed `x-market-id` otherwise (never a
 *   client value), or flags a malformed market;
 * - scoped routes pick the market's route configuration by that key (hash lookup);
 * - local-reply mappers turn every answer Envoy gives itself into the contract's JSON errors:
 *   no scope (NR) → 400 invalid_request (bad path), 404 not_found (outside `/v1/`), 400
 *   missing_market / invalid_market or 404 unknown_market; no healthy host, breaker overflow or
 *   connect failure → 503 cell_unavailable with Retry-After; overload → 503 overloaded; and by
 *   status the codec's and HCM's own refusals (431 headers_too_large, 413 payload_too_large,
 *   other 4xx → 400 invalid_request; 502, 504, other 5xx but 503 → 500 internal);
 * - the HCM is hardened for an edge (docs/xds.md §Edge hardening): the client's address is the
 *   peer's, headers with underscores and escaped slashes are refused, header size is bounded.
 */
import { EDGE_PATH_PREFIX, FORBIDDEN_PATH_PARTS, MARKET_HEADER, MARKET_ID_PATTERN } from '../../../shared/market.js';
import { errorMapper } from './errors.js';
import { EXPERIMENT_FILTER, EXPERIMENT_LUA } from './experiment.js';
import { GLOBAL_SCOPE_KEY, INVALID_HEADER, INVALID_PATH_HEADER, LISTENER_NAME, SCOPE_HEADER } from './names.js';
import { duration } from './proto.js';
import { makeResource, type Resource } from './resource.js';
import { LISTENER, SCOPED_ROUTE } from './type-urls.js';
import { edgeTlsSocket } from './upstream-tls.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const LUA = 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const ADS_SOURCE = { ads: {}, resource_api_version: 'V3' };

/** Where an Envoy's edge listener binds (from the node metadata written by `cellctl envoy`). */
export interface ListenAddress {
  address: string;
  port: number;
}

/** Max request header bytes, as the router's `--max-header-bytes` default (16384): above it 431 headers_too_large. */
export const MAX_REQUEST_HEADERS_KB = 16;

/**
 * The one `x-envoy-*` header the Lua filter keeps: Envoy sets it on a request it redirected
 * internally, and the Lua filter runs again on that request. A cell answers a frozen market's
 * write `307` only when it is absent (cells/http/frozen-release.ts), so a second visit gets `409`,
 * never a loop; a client sending it only gives up that release.
 */
const ORIGINAL_URL_HEADER = 'x-envoy-original-url';

/**
 * The Lua source: removes client-sent internal headers and every client `x-envoy-*` header but {@link ORIGINAL_URL_HEADER};
 * flags a non-canonical path (any of shared/market.ts FORBIDDEN_PATH_PARTS, case-insensitive,
 * or a dot segment; query left out) and gives a path outside `/v1/` no scope; then sets the
 * scope header (`g` for `/v1/global/`, `m/<market>` for a well-formed market named once) or
 * flags a malformed market for the invalid_market mapper. Same rules as shared/market.ts
 * classifyEdgePath and extractMarket: `^[a-z0-9][a-z0-9-]{0,62}$`, exactly one value.
 */
export const SCOPE_LUA = `
local FORBIDDEN = { ${FORBIDDEN_PATH_PARTS.map((p) => JSON.stringify(p)).join(', ')} }
local function path_kind(target)
  local p = target
  local q = string.find(target, "?", 1, true)
  if q then p = string.sub(target, 1, q - 1) end
  local lp = string.lower(p)
  for _, part in ipairs(FORBIDDEN) do
    if string.find(lp, part, 1, true) then return "invalid" end
  end
  local w = "/" .. p .. "/"
  if string.find(w, "/./", 1, true) or string.find(w, "/../", 1, true) then return "invalid" end
  if string.sub(p, 1, ${EDGE_PATH_PREFIX.length}) ~= "${EDGE_PATH_PREFIX}" then return "outside" end
  return "ok"
end
function envoy_on_request(h)
  local hs = h:headers()
  hs:remove("${SCOPE_HEADER}")
  hs:remove("${INVALID_HEADER}")
  hs:remove("${INVALID_PATH_HEADER}")
  local envoy_headers = {}
  for k, _ in pairs(hs) do
    if string.sub(k, 1, 8) == "x-envoy-" and k ~= "${ORIGINAL_URL_HEADER}" then envoy_headers[#envoy_headers + 1] = k end
  end
  for _, k in ipairs(envoy_headers) do hs:remove(k) end
  local path = hs:get(":path") or ""
  local kind = path_kind(path)
  if kind == "invalid" then
    hs:add("${INVALID_PATH_HEADER}", "1")
    return
  end
  if kind == "outside" then return end
  if string.sub(path, 1, 11) == "/v1/global/" then
    hs:add("${SCOPE_HEADER}", "${GLOBAL_SCOPE_KEY}")
    return
  end
  local n = hs:getNumValues("${MARKET_HEADER}")
  if n == 0 then return end
  if n > 1 then
    hs:add("${INVALID_HEADER}", "1")
    return
  end
  local m = hs:getAtIndex("${MARKET_HEADER}", 0)
  if m == "" then return end
  if #m > 63 or string.match(m, "^[a-z0-9][a-z0-9%-]*$") == nil then
    hs:add("${INVALID_HEADER}", "1")
    return
  end
  hs:add("${SCOPE_HEADER}", "m/" .. m)
end
`;

const NR = { response_flag_filter: { flags: ['NR'] } };
const header = (h: Record<string, unknown>) => ({ header_filter: { header: h } });
const and = (...filters: unknown[]) => ({ and_filter: { filters } });
const status = (op: 'EQ' | 'GE' | 'LE', value: number) => ({
  status_code_filter: {
    comparison: { op, value: { default_value: value, runtime_key: `cellsim.local_reply.${op.toLowerCase()}_${value}` } },
  },
});

/** The local-reply mappers, first match wins. */
export function localReplyMappers(): unknown[] {
  return [
    errorMapper(
      and(NR, header({ name: INVALID_PATH_HEADER, present_match: true })),
      'invalid_request',
      'path must not contain dot segments, encoded separators, NUL or empty segments',
    ),
    errorMapper(
      and(NR, header({ name: ':path', string_match: { prefix: EDGE_PATH_PREFIX }, invert_match: true })),
      'not_found',
      'only /v1/ paths are served here',
    ),
    errorMapper(
      and(NR, header({ name: ':path', string_match: { prefix: '/v1/global/' } })),
      'cell_unavailable',
      'no global cell is configured',
    ),
    errorMapper(
      and(NR, header({ name: MARKET_HEADER, present_match: true, invert_match: true })),
      'missing_market',
      `header ${MARKET_HEADER} is required`,
    ),
    errorMapper(
      and(NR, header({ name: MARKET_HEADER, string_match: { exact: '' } })),
      'missing_market',
      `header ${MARKET_HEADER} is empty`,
    ),
    errorMapper(
      and(NR, header({ name: INVALID_HEADER, present_match: true })),
      'invalid_market',
      `market id must match ${MARKET_ID_PATTERN} (lower case, digits, dashes, at most 63 chars) and appear once`,
    ),
    errorMapper(NR, 'unknown_market', 'no cell owns this market'),
    errorMapper(
      { response_flag_filter: { flags: ['UH', 'UO', 'UF', 'URX', 'NC'] } },
      'cell_unavailable',
      'the owning cell has no healthy endpoint',
    ),
    errorMapper({ response_flag_filter: { flags: ['UT'] } }, 'upstream_timeout', 'the cell did not answer in time'),
    errorMapper({ response_flag_filter: { flags: ['UC', 'UR'] } }, 'bad_gateway', 'the cell connection failed'),
    // The overload manager's refusal comes before any filter ran, so without the scope header a
    // routed request (and every direct response) has; its response flag is not set at that point.
    errorMapper(
      {
        or_filter: {
          filters: [
            { response_flag_filter: { flags: ['OM'] } },
            and(status('EQ', 503), header({ name: SCOPE_HEADER, present_match: true, invert_match: true })),
          ],
        },
      },
      'overloaded',
      'the edge is overloaded',
    ),
    // By status, every other answer Envoy gives itself: the codec's and the HCM's refusals
    // (escaped slashes, headers with underscores, malformed requests). A direct response (a
    // down cell, a frozen market) is a 503 with its contract body already and matches none.
    errorMapper(status('EQ', 431), 'headers_too_large', `request headers are over ${MAX_REQUEST_HEADERS_KB} KiB`),
    errorMapper(status('EQ', 413), 'payload_too_large', 'request body is too large'),
    errorMapper(status('EQ', 404), 'not_found', 'no such route'),
    errorMapper(and(status('GE', 400), status('LE', 499)), 'invalid_request', 'the request was refused by the edge'),
    errorMapper(status('EQ', 502), 'bad_gateway', 'the cell connection failed'),
    errorMapper(status('EQ', 504), 'upstream_timeout', 'the cell did not answer in time'),
    // Every other 5xx but 503 (e.g. 507 when a retried body overflows its buffer); an unflagged
    // 503 is left alone, as the direct responses are 503s with their own contract body.
    errorMapper(
      { or_filter: { filters: [status('EQ', 500), status('EQ', 501), and(status('GE', 505), status('LE', 599))] } },
      'internal',
      'internal error',
    ),
  ];
}

/** The HTTP connection manager of the edge. */
export function edgeHcm(): Record<string, unknown> {
  return {
    '@type': HCM,
    stat_prefix: 'edge',
    codec_type: 'AUTO',
    server_name: 'cellsim-edge',
    scoped_routes: {
      name: 'markets',
      scope_key_builder: { fragments: [{ header_value_extractor: { name: SCOPE_HEADER, index: 0 } }] },
      rds_config_source: ADS_SOURCE,
      scoped_rds: { scoped_rds_config_source: ADS_SOURCE },
    },
    http_filters: [
      { name: 'envoy.filters.http.lua', typed_config: { '@type': LUA, default_source_code: { inline_string: SCOPE_LUA } } },
      // A/B experiments (experiment.ts): after the scope is known, the market's route may key an arm.
      { name: EXPERIMENT_FILTER, typed_config: { '@type': LUA, default_source_code: { inline_string: EXPERIMENT_LUA } } },
      { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER, suppress_envoy_headers: true } },
    ],
    local_reply_config: { mappers: localReplyMappers() },
    // The client is the peer (no trusted proxy in front): x-forwarded-for is set from it, and a
    // client cannot claim to be internal.
    use_remote_address: { value: true },
    xff_num_trusted_hops: 0,
    // No rewrite of the path: a non-canonical one is refused (the Lua filter, as the router
    // does), so routing, the cell and the router all see the path the client sent. Escaped
    // slashes are refused by the HCM itself, before any filter.
    normalize_path: { value: false },
    merge_slashes: false,
    path_with_escaped_slashes_action: 'REJECT_REQUEST',
    max_request_headers_kb: { value: MAX_REQUEST_HEADERS_KB },
    common_http_protocol_options: { idle_timeout: duration(60_000), headers_with_underscores_action: 'REJECT_REQUEST' },
  };
}

/** Checks a listen address; returns every problem. */
export function listenProblems(l: ListenAddress): string[] {
  const problems: string[] = [];
  if (!/^[0-9a-fA-F.:]+$/.test(l.address)) problems.push(`listener.address: '${l.address}' is not an IP literal`);
  if (!Number.isInteger(l.port) || l.port < 1 || l.port > 65535) problems.push(`listener.port: ${l.port} is out of range`);
  return problems;
}

/**
 * The edge listener of one Envoy; with `tls`, it serves HTTPS with Envoy's certificate from SDS
 * (upstream-tls.ts's {@link edgeTlsSocket}; `cellctl control-plane --edge-tls`).
 */
export function edgeListener(listen: ListenAddress, tls = false): Resource {
  return makeResource(
    LISTENER,
    LISTENER_NAME,
    {
      name: LISTENER_NAME,
      address: { socket_address: { address: listen.address, port_value: listen.port } },
      filter_chains: [
        {
          filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: edgeHcm() }],
          ...(tls ? { transport_socket: edgeTlsSocket() } : {}),
        },
      ],
    },
    [{ type: SCOPED_ROUTE, name: '*' }],
  );
}
