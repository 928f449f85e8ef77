/**
 * Test and benchmark helpers: start the real control plane (`cellctl control-plane`) and
 * real Envoys (`cellctl envoy`) as processes on free ports, against a real Consul.
 */
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../infra/ports.js';
import type { ManagedProcess, ProcessScope } from '../../infra/process.js';

const CELLCTL = fileURLToPath(new URL('../../bin/cellctl.js', import.meta.url));

/** A control plane started for a test. */
export interface TestControlPlane {
  proc: ManagedProcess;
  httpUrl: string;
  httpPort: number;
  xdsPort: number;
  /** Restarts it on the same ports (after a kill or stop). */
  restart(): Promise<TestControlPlane>;
}

/** Starts `cellctl control-plane` and waits for /readyz. */
export async function startControlPlane(
  scope: ProcessScope,
  o: {
    consulUrl: string;
    id?: string;
    holdMs?: number;
    /** --panic-ms (default: the control plane's, 60 s). */
    panicMs?: number;
    /** --flip-grace-ms (default: the control plane's, 10 s). */
    flipGraceMs?: number;
    ports?: { http: number; xds: number };
    testHooks?: boolean;
    logLevel?: string;
    prefix?: string;
    /** --data: the last good view is kept under it. */
    data?: string;
    /** --upstream-tls: clusters to the cells use mutual TLS. */
    upstreamTls?: boolean;
    /** --sds-dir: Envoy's upstream certificate by SDS from this directory. */
    sdsDir?: string;
    /** --edge-tls: edge listeners serve HTTPS (needs sdsDir). */
    edgeTls?: boolean;
    /** --tls-cert/--tls-key/--tls-ca: xDS over TLS with these files. */
    tls?: { cert: string; key: string; ca: string };
    /** More environment, e.g. the admin API's tokens (`CELLSIM_OPERATOR_TOKEN`). */
    env?: Record<string, string>;
  },
): Promise<TestControlPlane> {
  const [http, xds] = o.ports ? [o.ports.http, o.ports.xds] : ((await freePorts(2)) as [number, number]);
  const args = [
    CELLCTL,
    'control-plane',
    '--port',
    String(http),
    '--xds-port',
    String(xds),
    '--consul',
    o.consulUrl,
    '--id',
    o.id ?? 'cp-test',
  ];
  args.push('--hold-ms', String(o.holdMs ?? 2000));
  if (o.panicMs !== undefined) args.push('--panic-ms', String(o.panicMs));
  if (o.flipGraceMs !== undefined) args.push('--flip-grace-ms', String(o.flipGraceMs));
  if (o.prefix) args.push('--prefix', o.prefix);
  if (o.data) args.push('--data', o.data);
  if (o.testHooks !== false) args.push('--test-hooks');
  if (o.upstreamTls) args.push('--upstream-tls');
  if (o.sdsDir) args.push('--sds-dir', o.sdsDir);
  if (o.edgeTls) args.push('--edge-tls');
  if (o.tls) args.push('--tls-cert', o.tls.cert, '--tls-key', o.tls.key, '--tls-ca', o.tls.ca);
  const proc = await scope.start({
    name: `control-plane-${o.id ?? 'cp-test'}`,
    command: process.execPath,
    args,
    env: { ...o.env, CELLSIM_LOG_LEVEL: o.logLevel ?? 'info' },
    ready: { http: `http://127.0.0.1:${http}/readyz`, status: 200 },
    readyTimeoutMs: 30_000,
  });
  const cp: TestControlPlane = {
    proc,
    httpUrl: `http://127.0.0.1:${http}`,
    httpPort: http,
    xdsPort: xds,
    restart: () => startControlPlane(scope, { ...o, ports: { http, xds } }),
  };
  return cp;
}

/** An Envoy started for a test. */
export interface TestEnvoy {
  proc: ManagedProcess;
  id: string;
  url: string;
  adminUrl: string;
  listenPort: number;
}

/** Starts `cellctl envoy` pointed at `xdsPort` and waits until its admin says it is ready (listener warmed). */
export async function startTestEnvoy(
  scope: ProcessScope,
  o: {
    xdsPort: number;
    id: string;
    api?: 'delta' | 'sotw';
    readyTimeoutMs?: number;
    concurrency?: number;
    /** --max-heap-mb and --max-connections (default: the command's). */
    maxHeapMb?: number;
    maxConnections?: number;
    /** More flags (e.g. the xDS TLS files). */
    extraArgs?: string[];
    /** Wait until it is `configured` (admin /ready 200, the default) or only `running` (/server_info answers: an Envoy expected never to get its config). */
    waitUntil?: 'configured' | 'running';
  },
): Promise<TestEnvoy> {
  const [listen, admin] = (await freePorts(2)) as [number, number];
  const proc = await scope.start({
    name: `envoy-${o.id}`,
    command: process.execPath,
    args: [
      CELLCTL,
      'envoy',
      '--listen',
      String(listen),
      '--admin',
      String(admin),
      '--xds',
      `127.0.0.1:${o.xdsPort}`,
      '--id',
      o.id,
      '--api',
      o.api ?? 'delta',
      '--concurrency',
      String(o.concurrency ?? 1),
      ...(o.maxHeapMb === undefined ? [] : ['--max-heap-mb', String(o.maxHeapMb)]),
      ...(o.maxConnections === undefined ? [] : ['--max-connections', String(o.maxConnections)]),
      ...(o.extraArgs ?? []),
    ],
    ready: { http: `http://127.0.0.1:${admin}/${o.waitUntil === 'running' ? 'server_info' : 'ready'}`, status: 200 },
    readyTimeoutMs: o.readyTimeoutMs ?? 30_000,
  });
  return { proc, id: o.id, url: `http://127.0.0.1:${listen}`, adminUrl: `http://127.0.0.1:${admin}`, listenPort: listen };
}
