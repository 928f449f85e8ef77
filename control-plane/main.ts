/**
 * The control-plane process, wired in one place (the map of the program): each numbered
 * step starts one subsystem. `stop()` undoes them in reverse order.
 */
import { serve, type ServerType } from '@hono/node-server';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createConsulClient } from '../shared/consul.js';
import { KvLayout } from '../shared/kv.js';
import { createLogger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import type { NamedToken } from '../shared/tokens.js';
import { createOperators } from './admin/index.js';
import { createHttpApp, mountRoutes } from './http.js';
import { createConsole } from './ui/index.js';
import type { ClusterOptions } from './xds/resources/cluster.js';
import { startXds } from './xds/index.js';
import { announceControlPlane, type Announcement } from './xds/registration.js';
import { watchTls } from '../shared/pki/reload.js';
import type { TlsFiles } from '../shared/pki/names.js';
import { peerClient } from '../shared/pki/client.js';
import { runsBundled } from '../shared/bundled.js';

/** Options of {@link start} (the `cellctl control-plane` flags). */
export interface ControlPlaneOptions {
  /** HTTP port (health, metrics, /xds/status, admin API, hold endpoint); 0 = any. */
  port: number;
  /** xDS gRPC port; 0 = any. */
  xdsPort: number;
  consul: string;
  host: string;
  prefix: string;
  id: string;
  data?: string;
  /** Tokens of its own admin API (operator, read, named ones); none: every admin call is refused. */
  adminTokens?: NamedToken[];
  /** Its token for the cells' admin API (migrations), never an operator's. */
  cellAdminToken?: string;
  /** Its token for the supervisor's control channel (rollouts). */
  supervisorToken?: string;
  /** Its token for the routers' route view (the freeze barrier's `GET /route`). */
  routerAdminToken?: string;
  /** Hold bound of frozen markets at the edge, ms (0 = 503 at once). */
  holdMs: number;
  /** A cell with no passing instance keeps its last passing ones in Envoy this long, ms [60,000]. */
  panicMs?: number;
  /** After a color flip the previous color stays in Envoy's EDS at priority 1 this long, ms [10,000]. */
  flipGraceMs?: number;
  /** Mount the test-only NACK injection (never in production). */
  testHooks: boolean;
  /** Envoy's clusters to the cells use mutual TLS with the secrets of its bootstrap (xds/resources/upstream-tls.ts). */
  upstreamTls?: boolean;
  /** Envoy's upstream certificate by SDS from these files (watched: a rotation is pushed); implies upstreamTls. */
  sdsFiles?: TlsFiles;
  /** Envoys' edge listeners serve HTTPS with their SDS certificate (needs sdsFiles). */
  edgeTls?: boolean;
  /** Serve xDS over TLS with these files, requiring each Envoy's certificate of the CA. */
  xdsTls?: TlsFiles;
  /**
   * Cells and routers serve HTTPS: the admin API's calls to cells (migrations) and every scrape of
   * their /metrics (rollout SLOs, placement, the console) use these files' certificate and CA.
   */
  peerTls?: TlsFiles;
  /**
   * Serve the HTTP API (admin, console, hold endpoint, /readyz, /metrics) in HTTPS with these
   * files' certificate; Envoys' hold cluster then speaks TLS to it (xds/resources/hold.ts).
   */
  apiTls?: TlsFiles;
  /** Register in Consul as cellsim-xds (default true). */
  register?: boolean;
}

/** A running control plane. */
export interface ControlPlane {
  httpPort: number;
  xdsPort: number;
  stop(): Promise<void>;
}

/** TLS of Envoy's clusters: to the cells (`--upstream-tls`/`--sds-dir`) and to the hold endpoint (`--api-tls`), secrets by SDS when served. */
function clusterTls(o: ControlPlaneOptions): Partial<ClusterOptions> | undefined {
  const secrets: 'sds' | 'static' = o.sdsFiles ? 'sds' : 'static';
  const cells = o.sdsFiles || o.upstreamTls ? { upstreamTls: secrets } : {};
  const hold = o.apiTls ? { holdTls: secrets } : {};
  return o.sdsFiles || o.upstreamTls || o.apiTls ? { ...cells, ...hold } : undefined;
}

/** Starts the control plane: every subsystem, in order. */
export async function start(o: ControlPlaneOptions): Promise<ControlPlane> {
  const log = createLogger('control-plane', { id: o.id });
  const registry = createRegistry('control-plane');
  const consul = createConsulClient(o.consul);
  const layout = new KvLayout(o.prefix);
  // xDS over TLS from watched files: a rotated certificate reaches new streams (docs/tls.md §Rotation without restarts).
  const xdsWatch = o.xdsTls ? watchTls(o.xdsTls, { logger: log }) : undefined;

  // 1. xDS: Consul → snapshots → Envoy (ADS, SotW and delta).
  //    With --data, the last good routing view is kept on disk and served until Consul answers.
  const xds = await startXds({
    consul,
    layout,
    log,
    registry,
    id: o.id,
    host: o.host,
    port: o.xdsPort,
    holdMs: o.holdMs,
    panicMs: o.panicMs,
    flipGraceMs: o.flipGraceMs,
    dataDir: o.data,
    cluster: clusterTls(o),
    secrets: o.sdsFiles,
    edgeTls: o.edgeTls,
    tls: xdsWatch,
  });

  // 2. HTTP: /healthz /readyz /metrics /xds/status and the hold endpoint.
  let registration: Announcement | undefined;
  const app = createHttpApp({
    registry,
    xds,
    log,
    testHooks: o.testHooks,
    announced: () => registration?.attempted ?? o.register === false,
  });

  // 3. Operator admin API (control-plane/admin/) and migration/rollout recovery.
  const operators = createOperators({
    consulUrl: o.consul,
    consul,
    prefix: o.prefix,
    adminTokens: o.adminTokens ?? [],
    cellAdminToken: o.cellAdminToken,
    supervisorToken: o.supervisorToken,
    routerAdminToken: o.routerAdminToken,
    cellTls: o.peerTls,
    id: o.id,
    log,
    dataDir: o.data,
    edge: xds,
  });
  mountRoutes(app, '/admin', operators.routes);
  void operators.start();

  // 3b. The operator console at /ui/ (control-plane/ui/): pages over the admin API above.
  //     Its scrapes of cells' and routers' /metrics speak HTTPS with the peer certificate under TLS,
  //     and so do those of Envoys' admin paths under `cellctl up --hosts --tls` (xds/admin-tls.ts).
  const { migrator, rollouts } = operators;
  const peers = peerClient(o.peerTls ? watchTls(o.peerTls, { logger: log }) : undefined, ['cell', 'router', 'envoy']);
  const ui = createConsole({
    admin: operators.routes,
    tokens: o.adminTokens ?? [],
    consul,
    layout,
    edge: xds,
    migrator,
    rollouts,
    log,
    dataDir: o.data,
    peers,
  });
  mountRoutes(app, '/', ui.routes);

  // 4. Serve HTTP.
  //    With --api-tls: HTTPS with the control plane's certificate (no client certificate asked:
  //    the admin API and the console take tokens, the hold endpoint and /readyz anyone).
  //    The files are watched: a rotated certificate serves new connections without a restart
  //    (docs/tls.md §Rotation without restarts).
  const apiWatch = o.apiTls ? watchTls(o.apiTls, { logger: log }) : undefined;
  const apiTls = apiWatch?.current();
  const https = apiTls ? { createServer: createHttpsServer, serverOptions: { cert: apiTls.cert, key: apiTls.key } } : {};
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: o.port, hostname: o.host, ...https }, () => resolve(s));
  });
  apiWatch?.onChange((m) => (server as HttpsServer).setSecureContext({ cert: m.cert, key: m.key }));
  const httpPort = (server.address() as AddressInfo).port;

  // 5. Announce in Consul as cellsim-xds (the hold cluster of every Envoy lists these), once
  //    the routing view is ready, check passing from the start; retried while Consul is away.
  if (o.register !== false) {
    registration = announceControlPlane({
      consulUrl: o.consul,
      consul,
      id: o.id,
      host: o.host,
      httpPort,
      xdsPort: xds.port,
      tls: apiTls !== undefined,
      ready: () => xds.ready,
      log,
    });
  }

  log.info({ httpPort, xdsPort: xds.port, consul: o.consul, prefix: layout.prefix, bundled: runsBundled() }, 'control plane started');
  return {
    httpPort,
    xdsPort: xds.port,
    async stop() {
      await registration?.stop();
      ui.close();
      await peers.close();
      await operators.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await xds.stop();
      apiWatch?.close();
      xdsWatch?.close();
      log.info('control plane stopped');
    },
  };
}
