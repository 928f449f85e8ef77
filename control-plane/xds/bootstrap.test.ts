/** The Envoy bootstrap `cellctl envoy` writes: ADS over gRPC with a bounded reconnect backoff. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envoyBootstrap, parseHostPort } from './bootstrap.js';

describe('Envoy bootstrap', () => {
  it('points ADS at the control plane with the reconnect backoff where Envoy reads it (EnvoyGrpc.retry_policy)', () => {
    const b = envoyBootstrap({
      nodeId: 'edge-1',
      listen: { address: '127.0.0.1', port: 10000 },
      adminPort: 9901,
      xds: parseHostPort('127.0.0.1:18000'),
      api: 'delta',
    }) as { dynamic_resources: { ads_config: { api_type: string; grpc_services: Record<string, unknown>[] } } };
    const ads = b.dynamic_resources.ads_config;
    assert.equal(ads.api_type, 'DELTA_GRPC');
    const svc = ads.grpc_services[0] as { envoy_grpc: { retry_policy?: unknown }; retry_policy?: unknown };
    assert.deepEqual(svc.envoy_grpc.retry_policy, { retry_back_off: { base_interval: '0.25s', max_interval: '2s' } });
    assert.equal(svc.retry_policy, undefined, 'GrpcService.retry_policy does not set the xDS reconnect backoff');
  });
});
