/** Resource builders: encodings Envoy accepts in shape, content versions, incremental scopes, validation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_CODES, type ErrorCode } from '../../../shared/errors.js';
import type { CellRecord, MarketRecord } from '../../../shared/kv.js';
import { FORBIDDEN_PATH_PARTS } from '../../../shared/market.js';
import { activeEndpoints, type Endpoint } from '../../../shared/routing-table.js';
import { typeSnapshot } from '../cache/snapshot.js';
import { ResourceBuilder, type BuildInput } from '../build.js';
import { DEFAULT_CLUSTER_OPTIONS, cellCluster } from './cluster.js';
import { cellLoadAssignment } from './endpoint.js';
import { holdCluster } from './hold.js';
import { edgeListener, localReplyMappers, SCOPE_LUA } from './listener.js';
import { decodeAny } from './proto.js';
import { cellRoutes, frozenRoutes } from './route.js';
import { marketScope } from './scoped-route.js';
import { CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE } from './type-urls.js';

/** The value at a dotted path of a decoded resource (numbers index arrays). */
function at(o: unknown, path: string): unknown {
  let cur = o;
  for (const part of path.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[part];
  return cur;
}

const cell = (id: string, extra: Partial<CellRecord> = {}): CellRecord => ({
  id,
  state: 'active',
  canary: false,
  global: false,
  capacity: 1,
  version: 'v1',
  ...extra,
});
const ep = (cellId: string, address = '127.0.0.1', port = 9000): Endpoint => ({
  id: `${cellId}-${port}`,
  cell: cellId,
  address,
  port,
  version: 'v1',
  color: 'blue',
});

function input(markets: Record<string, MarketRecord>, changed?: string[]): BuildInput {
  return {
    cells: new Map([
      ['cell-a', cell('cell-a')],
      ['cell-b', cell('cell-b', { global: true })],
    ]),
    markets: new Map(Object.entries(markets)),
    endpoints: new Map([
      ['cell-a', [ep('cell-a')]],
      ['cell-b', [ep('cell-b', '127.0.0.1', 9001)]],
    ]),
    globalCell: 'cell-b',
    changedMarkets: changed ? new Set(changed) : undefined,
  };
}

describe('xDS resources', () => {
  it('builds one cluster, one load assignment and one route configuration per cell, and a scope per market', () => {
    const r = new ResourceBuilder().build(
      input({ 'm-1': { cell: 'cell-a', state: 'active', epoch: 1 }, 'm-2': { cell: 'cell-b', state: 'frozen', epoch: 3 } }),
    );
    assert.deepEqual([...r.types.get(CLUSTER)!.keys()].sort(), ['cell:cell-a', 'cell:cell-b']);
    assert.deepEqual([...r.types.get(ENDPOINT)!.keys()].sort(), ['cell:cell-a', 'cell:cell-b']);
    assert.deepEqual([...r.types.get(ROUTE)!.keys()].sort(), ['cell:cell-a', 'cell:cell-b', 'frozen']);
    const scopes = r.types.get(SCOPED_ROUTE)!;
    // Anchor scopes keep every route configuration loaded in Envoy (make-before-break).
    assert.deepEqual([...scopes.keys()].sort(), [
      'global',
      'market:m-1',
      'market:m-2',
      'route:cell:cell-a',
      'route:cell:cell-b',
      'route:frozen',
    ]);
    assert.deepEqual(decodeAny(scopes.get('route:frozen')!.any).key, { fragments: [{ string_key: 'r/frozen' }] });
    const m2 = decodeAny(scopes.get('market:m-2')!.any);
    assert.equal(m2.route_configuration_name, 'frozen');
    assert.deepEqual(m2.key, { fragments: [{ string_key: 'm/m-2' }] });
    const cluster = decodeAny(r.types.get(CLUSTER)!.get('cell:cell-a')!.any);
    assert.equal(at(cluster, 'type'), 'EDS');
    assert.equal(at(cluster, 'health_checks.0.http_health_check.path'), '/v1/_edge-probe', 'a liveness probe of the /v1 data path');
    assert.deepEqual(at(cluster, 'health_checks.0.http_health_check.expected_statuses'), [{ start: 100, end: 600 }]);
    assert.deepEqual(at(cluster, 'health_checks.0.timeout'), { seconds: 1, nanos: 0 });
    // A busy cell is not a dead one: two missed probes in a row, the second 100 ms after the first;
    // a connect (TLS handshake included) may take the route timeout (cluster.ts).
    assert.equal(at(cluster, 'health_checks.0.unhealthy_threshold.value'), 2);
    assert.deepEqual(at(cluster, 'health_checks.0.unhealthy_edge_interval'), { seconds: 0, nanos: 100_000_000 });
    assert.deepEqual(at(cluster, 'connect_timeout'), { seconds: 2, nanos: 0 });
    assert.equal(at(cluster, 'ignore_health_on_host_removal'), true, 'a host EDS drops leaves at once');
    assert.equal(at(cluster, 'common_lb_config.healthy_panic_threshold.value'), 0, 'no panic routing to unhealthy hosts');
    assert.ok(at(cluster, 'outlier_detection') !== undefined);
    assert.ok(Number(at(cluster, 'circuit_breakers.thresholds.0.max_requests.value')) > 0);
  });

  it("splits a shifted cell over its shift clusters by weight, each color's endpoints alone, published before any shift", () => {
    const b1 = { ...ep('cell-a', '127.0.0.1', 9100), id: 'b1' };
    const b2 = { ...ep('cell-a', '127.0.0.1', 9101), id: 'b2' };
    const g1 = { ...ep('cell-a', '127.0.0.1', 9200), id: 'g1', color: 'green' as const };
    const build = (rec: CellRecord) => {
      const cells = new Map([['cell-a', rec]]);
      const all = [b1, b2, g1];
      const base = input({ 'm-1': { cell: 'cell-a', state: 'active', epoch: 1 } });
      return new ResourceBuilder().build({ ...base, cells, endpoints: activeEndpoints(cells, all), allEndpoints: all });
    };
    const hosts = (r: ReturnType<typeof build>, name: string) =>
      (
        (at(decodeAny(r.types.get(ENDPOINT)!.get(name)!.any), 'endpoints.0.lb_endpoints') as
          | {
              endpoint: { hostname: string };
              load_balancing_weight?: unknown;
            }[]
          | undefined) ?? []
      ).map((e) => [e.endpoint.hostname, e.load_balancing_weight]);
    const target = (r: ReturnType<typeof build>) =>
      at(decodeAny(r.types.get(ROUTE)!.get('cell:cell-a')!.any), 'virtual_hosts.0.routes.0.route');

    const plain = build(cell('cell-a', { activeColor: 'blue' }));
    assert.deepEqual([...plain.types.get(CLUSTER)!.keys()].sort(), ['cell:cell-a', 'cell:cell-a:shift:blue', 'cell:cell-a:shift:green']);
    assert.equal(at(target(plain), 'cluster'), 'cell:cell-a', 'no shift: the cell cluster');
    assert.deepEqual(hosts(plain, 'cell:cell-a:shift:green'), [['g1', undefined]], 'a passing green is in its cluster before the shift');
    const cl = decodeAny(plain.types.get(CLUSTER)!.get('cell:cell-a:shift:green')!.any);
    assert.equal(at(cl, 'eds_cluster_config.service_name'), 'cell:cell-a:shift:green');
    assert.equal(at(cl, 'common_lb_config.healthy_panic_threshold.value'), 0, "the cell cluster's settings");

    const shifted = build(cell('cell-a', { activeColor: 'blue', shift: { color: 'green', percent: 1 } }));
    assert.deepEqual(at(target(shifted), 'weighted_clusters.clusters'), [
      { name: 'cell:cell-a:shift:blue', weight: { value: 99 } },
      { name: 'cell:cell-a:shift:green', weight: { value: 1 } },
    ]);
    assert.equal(at(target(shifted), 'cluster'), undefined);
    assert.deepEqual(hosts(shifted, 'cell:cell-a:shift:blue'), [
      ['b1', undefined],
      ['b2', undefined],
    ]);
    assert.deepEqual(hosts(shifted, 'cell:cell-a:shift:green'), [['g1', undefined]]);
    const half = build(cell('cell-a', { activeColor: 'blue', shift: { color: 'green', percent: 12.5 } }));
    assert.deepEqual(
      (at(target(half), 'weighted_clusters.clusters') as { weight: { value: number } }[]).map((c) => c.weight.value),
      [7, 1],
      '87.5 : 12.5',
    );

    const noGreen = new ResourceBuilder().build({
      ...input({ 'm-1': { cell: 'cell-a', state: 'active', epoch: 1 } }),
      cells: new Map([['cell-a', cell('cell-a', { activeColor: 'blue' })]]),
      endpoints: new Map([['cell-a', [b1]]]),
      allEndpoints: [b1],
    });
    assert.deepEqual(hosts(noGreen, 'cell:cell-a:shift:green'), [], 'an unused color with no instance probes nothing');
  });

  it('gives equal content equal versions (two replicas agree) and a change a new version', () => {
    const a = new ResourceBuilder().build(input({ 'm-1': { cell: 'cell-a', state: 'active', epoch: 1 } }));
    const b = new ResourceBuilder().build(input({ 'm-1': { cell: 'cell-a', state: 'active', epoch: 7 } }));
    for (const t of [CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE] as const)
      assert.equal(typeSnapshot(a.types.get(t)!).version, typeSnapshot(b.types.get(t)!).version);
    const c = new ResourceBuilder().build(input({ 'm-1': { cell: 'cell-b', state: 'active', epoch: 1 } }));
    assert.notEqual(typeSnapshot(a.types.get(SCOPED_ROUTE)!).version, typeSnapshot(c.types.get(SCOPED_ROUTE)!).version);
  });

  it('re-encodes only changed markets, and the incremental version equals a full rebuild', () => {
    const markets: Record<string, MarketRecord> = {};
    for (let i = 0; i < 500; i++) markets[`m-${i}`] = { cell: i % 2 ? 'cell-a' : 'cell-b', state: 'active', epoch: 1 };
    const builder = new ResourceBuilder();
    const first = builder.build(input(markets)).types.get(SCOPED_ROUTE)!;
    typeSnapshot(first);
    const unchanged = builder.build(input(markets, [])).types.get(SCOPED_ROUTE)!;
    assert.equal(unchanged, first, 'no change: the very same map');
    markets['m-3'] = { cell: 'cell-b', state: 'active', epoch: 2 };
    delete markets['m-4'];
    const next = builder.build(input(markets, ['m-3', 'm-4'])).types.get(SCOPED_ROUTE)!;
    assert.equal(next.get('market:m-5'), first.get('market:m-5'), 'unchanged market keeps its encoded resource');
    assert.notEqual(next.get('market:m-3'), first.get('market:m-3'));
    assert.equal(next.has('market:m-4'), false);
    assert.equal(next.size, first.size - 1);
    const full = new ResourceBuilder().build(input(markets)).types.get(SCOPED_ROUTE)!;
    assert.equal(typeSnapshot(next).version, typeSnapshot(full).version);
    assert.equal(typeSnapshot(next).delta?.names.size, 2);
  });

  it('leaves out endpoints Envoy would reject and reports them', () => {
    const dropped: { id: string; problem: string }[] = [];
    const r = cellLoadAssignment('cell-a', [ep('cell-a'), ep('cell-a', 'cell-a.example', 9100), ep('cell-a', '127.0.0.1', 0)], dropped);
    const cla = decodeAny(r.any) as { endpoints: { lb_endpoints: unknown[] }[] };
    assert.equal(cla.endpoints[0]!.lb_endpoints.length, 1);
    assert.deepEqual(dropped.map((d) => d.problem).sort(), ["address 'cell-a.example' is not an IP literal", 'port 0 is out of range']);
  });

  it('refuses a market ID the contract forbids', () => {
    assert.throws(() => marketScope('Bad_Market', 'cell:cell-a'), /not a valid market id/);
  });

  it('answers contract errors from Envoy itself: JSON local replies and direct responses with Retry-After on 503', () => {
    const mappers = localReplyMappers() as { status_code: { value: number }; headers_to_add: unknown[] }[];
    assert.deepEqual(
      mappers.map((m) => m.status_code.value),
      [400, 404, 503, 400, 400, 400, 404, 503, 504, 502, 503, 431, 413, 404, 400, 502, 504, 500],
    );
    // Every local reply's body is the contract's, its code matching the status it sets.
    for (const m of mappers as unknown as {
      status_code: { value: number };
      body_format_override: {
        json_format: { fields: { error: { structValue: { fields: { code: { stringValue: string } } } } } };
        content_type: string;
      };
    }[]) {
      assert.equal(m.body_format_override.content_type, 'application/json');
      const code = m.body_format_override.json_format.fields.error.structValue.fields.code.stringValue as ErrorCode;
      assert.equal(ERROR_CODES[code].status, m.status_code.value, code);
    }
    for (const m of mappers.filter((x) => x.status_code.value === 503)) assert.equal(m.headers_to_add.length, 1);
    const listener = decodeAny(edgeListener({ address: '127.0.0.1', port: 10000 }).any);
    assert.equal(at(listener, 'filter_chains.0.filters.0.name'), 'envoy.filters.network.http_connection_manager');
    const route = at(decodeAny(frozenRoutes(0).any), 'virtual_hosts.0.routes.0');
    assert.equal(at(route, 'direct_response.status'), 503);
    assert.deepEqual(JSON.parse(String(at(route, 'direct_response.body.inline_string'))), {
      error: { code: 'market_migrating', message: 'market is being migrated; retry shortly' },
    });
    const down = decodeAny(cellRoutes('cell-a', 'down').any);
    assert.match(String(at(down, 'virtual_hosts.0.routes.0.direct_response.body.inline_string')), /"code":"cell_unavailable"/);
    assert.match(SCOPE_LUA, /getNumValues/);
  });

  it('hardens the edge HCM and serves only /v1/: no path rewrite, escaped slashes and underscores refused, remote address, routes under /v1/ only', () => {
    const listener = decodeAny(edgeListener({ address: '127.0.0.1', port: 10000 }).any);
    const tc = at(listener, 'filter_chains.0.filters.0.typed_config') as { type_url: string; value: Uint8Array };
    const hcm = decodeAny({ type_url: tc.type_url, value: Buffer.from(tc.value) });
    assert.deepEqual(at(hcm, 'use_remote_address'), { value: true });
    assert.deepEqual(at(hcm, 'normalize_path'), { value: false });
    assert.equal(at(hcm, 'merge_slashes'), false);
    assert.equal(at(hcm, 'path_with_escaped_slashes_action'), 'REJECT_REQUEST');
    assert.equal(at(hcm, 'common_http_protocol_options.headers_with_underscores_action'), 'REJECT_REQUEST');
    assert.deepEqual(at(hcm, 'max_request_headers_kb'), { value: 16 });
    assert.equal(at(hcm, 'http_filters.1.name'), 'cellsim.experiment');
    assert.equal(at(hcm, 'http_filters.2.name'), 'envoy.filters.http.router');
    for (const part of FORBIDDEN_PATH_PARTS) assert.ok(SCOPE_LUA.includes(JSON.stringify(part)), `the Lua filter checks ${part}`);
    assert.match(SCOPE_LUA, /"x-envoy-"/);
    for (const rc of [cellRoutes('cell-a', 'active'), cellRoutes('cell-a', 'down'), frozenRoutes(0), frozenRoutes(2000)]) {
      assert.deepEqual(at(decodeAny(rc.any), 'virtual_hosts.0.routes.0.match'), { prefix: '/v1/' }, rc.name);
    }
  });

  it('sends held requests for frozen markets to the hold cluster with an internal redirect policy', () => {
    const route = at(decodeAny(frozenRoutes(2000).any), 'virtual_hosts.0.routes.0');
    assert.equal(at(route, 'route.cluster'), 'cellsim:hold');
    assert.deepEqual(at(route, 'route.internal_redirect_policy.redirect_response_codes'), [307]);
    assert.equal(frozenRoutes(2000).refs[0]?.name, 'cellsim:hold');
    assert.match(String(at(route, 'route.retry_policy.retry_on')), /connect-failure/, 'a dead replica is retried on another');
  });

  it('builds the hold cluster without active health checks or outlier ejection (a new host is usable at once)', () => {
    const hold = decodeAny(holdCluster(DEFAULT_CLUSTER_OPTIONS).any);
    assert.equal(at(hold, 'name'), 'cellsim:hold');
    assert.equal(at(hold, 'type'), 'EDS');
    assert.deepEqual(at(hold, 'health_checks') ?? [], []);
    assert.equal(at(hold, 'outlier_detection'), undefined);
  });

  it("keeps the hold cluster in plain HTTP when the cells' clusters use mutual TLS (the control plane's HTTP port is plain)", () => {
    for (const upstreamTls of ['static', 'sds'] as const) {
      const cell = decodeAny(cellCluster('cell-a', { ...DEFAULT_CLUSTER_OPTIONS, upstreamTls }).any);
      assert.notEqual(at(cell, 'transport_socket'), undefined, `${upstreamTls}: the cell's cluster is TLS`);
      const hold = decodeAny(holdCluster({ ...DEFAULT_CLUSTER_OPTIONS, upstreamTls }).any);
      assert.equal(at(hold, 'transport_socket'), undefined, `${upstreamTls}: the hold cluster is plain`);
    }
  });

  it("gives the hold cluster TLS to the control plane (its identity, not a cell's) when the control planes serve HTTPS (--api-tls)", () => {
    for (const holdTls of ['static', 'sds'] as const) {
      const hold = decodeAny(holdCluster({ ...DEFAULT_CLUSTER_OPTIONS, upstreamTls: holdTls, holdTls }).any);
      const tc = at(hold, 'transport_socket.typed_config') as { type_url: string; value: Uint8Array };
      const tls = decodeAny({ type_url: tc.type_url, value: Buffer.from(tc.value) });
      const ctx = 'common_tls_context';
      assert.equal(at(tls, `${ctx}.tls_certificate_sds_secret_configs.0.name`), 'cellsim-upstream-cert', holdTls);
      assert.deepEqual(
        at(tls, `${ctx}.combined_validation_context.default_validation_context.match_typed_subject_alt_names.0.matcher`),
        { exact: 'spiffe://cellsim/control-plane' },
        holdTls,
      );
    }
  });
});
