/**
 * LDS: the edge listener of one Envoy (its address comes from the node's metadata, so the
 * listener is per node) with an HTTP connection manager that implements docs/contracts.md §Request contract:
 * - a tiny Lua filter derives the internal scope header from the request: `g` for
 *   `/v1/global/` paths, `m/<market>` from a well-formed `x-market-id` otherwise (never a
 *   client value), or flags a malformed market;
 * - scoped routes pick the market's route configuration by that key (hash lookup);
 * - local-reply mappers turn Envoy's own answers into the contract's JSON errors: no scope
 *   (NR) → 400 missing_market / invalid_market or 404 unknown_market; no healthy host,
 *   breaker overflow or connect failure → 503 cell_unavailable with Retry-After.
 */
import { MARKET_HEADER, MARKET_ID_PATTERN } from '../../../shared/market.js';
import { errorMapper } from './errors.js';
import { GLOBAL_SCOPE_KEY, INVALID_HEADER, LISTENER_NAME, SCOPE_HEADER } from './names.js';
import { duration } from './proto.js';
import { makeResource, type Resource } from './resource.js';
import { LISTENER, SCOPED_ROUTE } from './type-urls.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const LUA = 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const ADS_SOURCE = { ads: {}, resource_api_version: 'V3' };

/** Where an Envoy's edge listener binds (from the node metadata written by `cellctl envoy`). */
export interface ListenAddress {
  address: string;
  port: number;
}

/**
 * The Lua source: removes client-sent internal headers, then sets the scope header (`g` for
 * `/v1/global/`, `m/<market>` for a well-formed market named once) or flags a malformed
 * market for the invalid_market mapper. Same rules as shared/market.ts extractMarket:
 * `^[a-z0-9][a-z0-9-]{0,62}$`, exactly one value.
 */
export const SCOPE_LUA = `
function envoy_on_request(h)
  local hs = h:headers()
  hs:remove("${SCOPE_HEADER}")
  hs:remove("${INVALID_HEADER}")
  local path = hs:get(":path") or ""
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

/** The local-reply mappers, first match wins. */
export function localReplyMappers(): unknown[] {
  return [
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
      { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER, suppress_envoy_headers: true } },
    ],
    local_reply_config: { mappers: localReplyMappers() },
    common_http_protocol_options: { idle_timeout: duration(60_000) },
  };
}

/** Checks a listen address; returns every problem. */
export function listenProblems(l: ListenAddress): string[] {
  const problems: string[] = [];
  if (!/^[0-9a-fA-F.:]+$/.test(l.address)) problems.push(`listener.address: '${l.address}' is not an IP literal`);
  if (!Number.isInteger(l.port) || l.port < 1 || l.port > 65535) problems.push(`listener.port: ${l.port} is out of range`);
  return problems;
}

/** The edge listener of one Envoy. */
export function edgeListener(listen: ListenAddress): Resource {
  return makeResource(
    LISTENER,
    LISTENER_NAME,
    {
      name: LISTENER_NAME,
      address: { socket_address: { address: listen.address, port_value: listen.port } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: edgeHcm() }] }],
    },
    [{ type: SCOPED_ROUTE, name: '*' }],
  );
}
