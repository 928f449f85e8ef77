/**
 * The gRPC ADS server: the AggregatedDiscoveryService of the Envoy API (loaded with
 * @grpc/proto-loader from the protos @grpc/grpc-js-xds ships), both methods on one server:
 * StreamAggregatedResources (state of the world) and DeltaAggregatedResources (incremental).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_DIRS } from '../resources/proto.js';
import type { StreamContext } from './context.js';
import { serveDelta } from './delta.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from './messages.js';
import { serveSotw } from './sotw.js';
import type { TlsMaterial } from '../../../shared/pki/identity.js';
import { isTlsSource, type TlsSource } from '../../../shared/pki/reload.js';

let service: grpc.ServiceDefinition | undefined;

/** The ADS service definition (loaded once). */
export function adsService(): grpc.ServiceDefinition {
  if (service) return service;
  const def = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs: [...PROTO_DIRS],
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } } } };
  };
  service = pkg.envoy.service.discovery.v3.AggregatedDiscoveryService.service;
  return service;
}

/** A client constructor for the ADS service (for tests and scripted clients). */
export function adsClientConstructor(): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(adsService(), 'AggregatedDiscoveryService');
}

/** A running ADS server. */
export interface AdsServer {
  port: number;
  /** Stops accepting streams and cancels the open ones. */
  stop(): Promise<void>;
}

/**
 * grpc-js's certificate provider over watched files (shared/pki/reload.ts): each accepted change
 * reaches the server's TLS context (grpc-js calls `setSecureContext`), so new connections get
 * the new certificate and open streams keep theirs (docs/tls.md §Rotation without restarts).
 * Listeners hear the current material on a microtask: grpc-js adds its watcher only after it
 * registers them, and a synchronous first update would reach no watcher.
 */
function certificateProvider(source: TlsSource): grpc.experimental.CertificateProvider {
  const cas = new Set<grpc.experimental.CaCertificateUpdateListener>();
  const ids = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  const identity = (m: TlsMaterial) => ({ certificate: Buffer.from(m.cert), privateKey: Buffer.from(m.key) });
  source.onChange((m) => {
    for (const l of ids) l(identity(m));
    for (const l of cas) l({ caCertificate: Buffer.from(m.ca) });
  });
  return {
    addCaCertificateListener(l) {
      cas.add(l);
      queueMicrotask(() => l({ caCertificate: Buffer.from(source.current().ca) }));
    },
    removeCaCertificateListener: (l) => void cas.delete(l),
    addIdentityCertificateListener(l) {
      ids.add(l);
      queueMicrotask(() => l(identity(source.current())));
    },
    removeIdentityCertificateListener: (l) => void ids.delete(l),
  };
}

function credentials(tls: TlsMaterial | TlsSource | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  if (isTlsSource(tls)) {
    const provider = certificateProvider(tls);
    return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, true);
  }
  return grpc.ServerCredentials.createSsl(
    Buffer.from(tls.ca),
    [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }],
    true,
  );
}

/**
 * Starts the ADS server on `host:port` (port 0 = any free port). With `tls`, it serves TLS with
 * that certificate and requires a client certificate of that CA (docs/tls.md §xDS over TLS); with
 * watched files, a rotation reaches new connections.
 */
export async function startAdsServer(ctx: StreamContext, host: string, port: number, tls?: TlsMaterial | TlsSource): Promise<AdsServer> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': -1,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_permit_without_calls': 1,
  });
  server.addService(adsService(), {
    StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => serveSotw(call, ctx),
    DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => serveDelta(call, ctx),
  });
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, credentials(tls), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    port: bound,
    stop: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}
