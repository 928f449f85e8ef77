/** The Envoy bootstrap `cellctl envoy` writes: ADS over gRPC with a bounded reconnect backoff, and the overload manager. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_MAX_DOWNSTREAM_CONNECTIONS, DEFAULT_MAX_HEAP_BYTES, envoyBootstrap, parseHostPort } from './bootstrap.js';
import { ADMIN_CLUSTER, ADMIN_TLS_LISTENER } from './admin-tls.js';

/** An edge Envoy on 127.0.0.1:10000 with delta ADS to a control plane on 127.0.0.1:18000. */
const EDGE = {
  nodeId: 'edge-1',
  listen: { address: '127.0.0.1', port: 10000 },
  adminPort: 9901,
  xds: parseHostPort('127.0.0.1:18000'),
  api: 'delta' as const,
};

describe('Envoy bootstrap', () => {
  it('points ADS at the control plane with the reconnect backoff where Envoy reads it (EnvoyGrpc.retry_policy)', () => {
    const b = envoyBootstrap(EDGE) as { dynamic_resources: { ads_config: { api_type: string; grpc_services: Record<string, unknown>[] } } };
    const ads = b.dynamic_resources.ads_config;
    assert.equal(ads.api_type, 'DELTA_GRPC');
    const svc = ads.grpc_services[0] as { envoy_grpc: { retry_policy?: unknown }; retry_policy?: unknown };
    assert.deepEqual(svc.envoy_grpc.retry_policy, { retry_back_off: { base_interval: '0.25s', max_interval: '2s' } });
    assert.equal(svc.retry_policy, undefined, 'GrpcService.retry_policy does not set the xDS reconnect backoff');
  });

  it('pings the xDS connection every 2 s, so a stream across a cut path is dialled again within 4 s (edge-consul-partition)', () => {
    const b = envoyBootstrap(EDGE);
    const xds = (b as { static_resources: { clusters: { typed_extension_protocol_options: Record<string, unknown> }[] } }).static_resources
      .clusters[0]!;
    const opts = xds.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'] as {
      explicit_http_config: { http2_protocol_options: { connection_keepalive: unknown } };
    };
    assert.deepEqual(opts.explicit_http_config.http2_protocol_options.connection_keepalive, { interval: '2s', timeout: '2s' });
  });

  it('runs an overload manager: a fixed heap bound with shrink-heap and stop-accepting-requests actions, and a downstream connection bound', () => {
    const o = { nodeId: 'edge-1', listen: { address: '127.0.0.1', port: 10000 }, adminPort: 9901, xds: parseHostPort('127.0.0.1:18000') };
    type Om = {
      resource_monitors: { name: string; typed_config: Record<string, unknown> }[];
      actions: { name: string; triggers: { name: string; threshold: { value: number } }[] }[];
    };
    const om = (envoyBootstrap({ ...o, api: 'delta' }) as { overload_manager: Om }).overload_manager;
    assert.deepEqual(
      om.resource_monitors.map((m) => [m.name, m.typed_config.max_heap_size_bytes ?? m.typed_config.max_active_downstream_connections]),
      [
        ['envoy.resource_monitors.fixed_heap', DEFAULT_MAX_HEAP_BYTES],
        ['envoy.resource_monitors.global_downstream_max_connections', DEFAULT_MAX_DOWNSTREAM_CONNECTIONS],
      ],
    );
    assert.deepEqual(
      om.actions.map((a) => [a.name, a.triggers[0]!.name, a.triggers[0]!.threshold.value]),
      [
        ['envoy.overload_actions.shrink_heap', 'envoy.resource_monitors.fixed_heap', 0.9],
        ['envoy.overload_actions.stop_accepting_requests', 'envoy.resource_monitors.fixed_heap', 0.95],
      ],
    );
    const tight = (envoyBootstrap({ ...o, api: 'sotw', maxHeapBytes: 1 << 20, maxDownstreamConnections: 4 }) as { overload_manager: Om })
      .overload_manager;
    assert.equal(tight.resource_monitors[0]!.typed_config.max_heap_size_bytes, 1 << 20);
    assert.equal(tight.resource_monitors[1]!.typed_config.max_active_downstream_connections, 4);
  });

  it('with adminTls keeps the admin on loopback and serves GET /ready and /stats/prometheus at the TLS listener, nothing else', () => {
    const secrets = { clientSecretPath: '/d/envoy/e/xds-client-secret.json', caSecretPath: '/d/envoy/e/xds-ca-secret.json' };
    const b = envoyBootstrap({ ...EDGE, adminTls: { listen: { address: '10.77.1.31', port: 9901 }, secrets } }) as {
      admin: { address: { socket_address: { address: string; port_value: number } } };
      static_resources: { listeners: Record<string, unknown>[]; clusters: { name: string; load_assignment: unknown }[] };
    };
    assert.deepEqual(b.admin.address.socket_address, { address: '127.0.0.1', port_value: 9901 });
    const text = JSON.stringify(b.static_resources.listeners);
    assert.equal(b.static_resources.listeners.length, 1);
    assert.match(text, new RegExp(`"name":"${ADMIN_TLS_LISTENER}".*"address":"10\\.77\\.1\\.31","port_value":9901`));
    assert.match(text, /"require_client_certificate":true/);
    assert.deepEqual(
      [...text.matchAll(/"exact":"(spiffe:[^"]+)"/g)].map((m) => m[1]),
      ['spiffe://cellsim/supervisor', 'spiffe://cellsim/control-plane'],
    );
    assert.deepEqual(
      [...text.matchAll(/"match":\{"path":"([^"]+)","headers":\[\{"name":":method","string_match":\{"exact":"GET"\}/g)].map((m) => m[1]),
      ['/ready', '/stats/prometheus'],
    );
    const admin = b.static_resources.clusters.find((c) => c.name === ADMIN_CLUSTER);
    assert.match(JSON.stringify(admin?.load_assignment), /"address":"127\.0\.0\.1","port_value":9901/);
    assert.throws(
      () => envoyBootstrap({ ...EDGE, adminAddress: '10.77.1.31', adminTls: { listen: { address: '10.77.1.31', port: 9902 }, secrets } }),
      /admin listens on loopback/,
    );
  });
});
