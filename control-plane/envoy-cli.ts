/**
 * `cellctl envoy`: writes an Envoy bootstrap (ADS over gRPC to the control plane, node id,
 * admin on loopback) and runs the real Envoy in the foreground; SIGTERM/SIGINT are passed
 * on and the command exits with Envoy's exit code.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parsePort, parsePositiveInt } from '../shared/cli.js';
import { requireBinary } from '../infra/binaries.js';
import { readTlsFiles, tlsFilesOf } from '../shared/pki/identity.js';
import { bootstrapSecrets } from './xds/resources/upstream-tls.js';
import {
  DEFAULT_MAX_DOWNSTREAM_CONNECTIONS,
  DEFAULT_MAX_HEAP_BYTES,
  envoyBootstrap,
  parseHostPort,
  xdsCaSecretFile,
  xdsClientSecretFile,
} from './xds/bootstrap.js';

interface Flags {
  listen: number;
  listenAddress: string;
  admin: number;
  /** Address of the admin listener (default loopback). */
  adminAddress?: string;
  xds: { host: string; port: number };
  id: string;
  data?: string;
  api: 'delta' | 'sotw';
  concurrency: number;
  logLevel: string;
  maxHeapMb: number;
  maxConnections: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  xdsTls?: boolean;
  /** Serve /ready and /stats/prometheus in mutual TLS here, the admin on loopback only. */
  adminTlsListen?: { host: string; port: number };
}

function parseXds(value: string): { host: string; port: number } {
  try {
    return parseHostPort(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function parseNodeId(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(value))
    throw new InvalidArgumentError(`'${value}' is not a node id (letters, digits, . _ -)`);
  return value;
}

/** Writes the bootstrap for `f` and returns its path. */
export function writeBootstrap(
  f: Omit<Flags, 'concurrency' | 'logLevel' | 'maxHeapMb' | 'maxConnections'> & Partial<Pick<Flags, 'maxHeapMb' | 'maxConnections'>>,
): string {
  const dir = f.data ? join(f.data, 'envoy', f.id) : mkdtempSync(join(tmpdir(), `cellsim-envoy-${f.id}-`));
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'bootstrap.json');
  const tls = tlsFilesOf(f);
  if (f.xdsTls && !tls) throw new InvalidArgumentError('--xds-tls needs --tls-cert, --tls-key and --tls-ca');
  if (f.adminTlsListen && !tls) throw new InvalidArgumentError('--admin-tls-listen needs --tls-cert, --tls-key and --tls-ca');
  if (f.adminTlsListen && (f.adminAddress ?? '127.0.0.1') !== '127.0.0.1')
    throw new InvalidArgumentError('--admin-tls-listen keeps the admin on loopback: leave --admin-address out');
  if (f.adminTlsListen?.host === '127.0.0.1' && f.adminTlsListen.port === f.admin)
    throw new InvalidArgumentError('--admin-tls-listen must not be the admin address itself (127.0.0.1:--admin)');
  // Envoy's certificate and the CA by file-based SDS, watched by Envoy, for the xDS connection and the
  // admin TLS listener (docs/tls.md §Rotation without restarts, docs/tls.md §Rotating the CA).
  const secrets = { clientSecretPath: join(dir, 'xds-client-secret.json'), caSecretPath: join(dir, 'xds-ca-secret.json') };
  if (tls && (f.xdsTls || f.adminTlsListen)) {
    writeFileSync(secrets.clientSecretPath, `${JSON.stringify(xdsClientSecretFile(tls), null, 2)}\n`);
    writeFileSync(secrets.caSecretPath, `${JSON.stringify(xdsCaSecretFile(tls), null, 2)}\n`);
  }
  const bootstrap = envoyBootstrap({
    nodeId: f.id,
    listen: { address: f.listenAddress, port: f.listen },
    adminPort: f.admin,
    adminAddress: f.adminAddress,
    xds: f.xds,
    api: f.api,
    maxHeapBytes: f.maxHeapMb === undefined ? undefined : f.maxHeapMb * 1024 * 1024,
    maxDownstreamConnections: f.maxConnections,
    xdsTls: f.xdsTls && tls ? secrets : undefined,
    adminTls: f.adminTlsListen && tls ? { listen: { address: f.adminTlsListen.host, port: f.adminTlsListen.port }, secrets } : undefined,
  });
  // The secrets a control plane's --upstream-tls clusters name (xds/resources/upstream-tls.ts).
  if (tls) (bootstrap.static_resources as Record<string, unknown>).secrets = bootstrapSecrets(tls);
  writeFileSync(path, `${JSON.stringify(bootstrap, null, 2)}\n`);
  return path;
}

/** Builds the command. */
export function command(): Command {
  return new Command('envoy')
    .description('write an Envoy bootstrap (ADS to the cellsim control plane) and run the real Envoy in the foreground')
    .requiredOption('--listen <port>', 'edge listener port (announced to the control plane in the node metadata)', parsePort)
    .requiredOption('--admin <port>', 'Envoy admin port', parsePort)
    .option('--admin-address <ip>', "admin listener address (a host's own address under cellctl up --hosts)", '127.0.0.1')
    .requiredOption('--xds <host:port>', 'the control plane xDS address', parseXds)
    .requiredOption('--id <node-id>', 'Envoy node id', parseNodeId)
    .option('--listen-address <ip>', 'edge listener address', '127.0.0.1')
    .option('--data <dir>', 'data directory (bootstrap written to <data>/envoy/<id>/bootstrap.json)')
    .addOption(
      new Option('--api <kind>', 'xDS flavour: delta (incremental) or sotw (state of the world)')
        .choices(['delta', 'sotw'])
        .default('delta'),
    )
    .option('--concurrency <n>', 'Envoy worker threads', parsePositiveInt, 1)
    .option('--log-level <level>', 'Envoy log level', 'warn')
    .option(
      '--max-heap-mb <n>',
      'overload manager heap bound: shrink the heap at 90 %, answer new requests 503 overloaded at 95 %',
      parsePositiveInt,
      DEFAULT_MAX_HEAP_BYTES / (1024 * 1024),
    )
    .option(
      '--max-connections <n>',
      'most downstream connections at once (overload manager)',
      parsePositiveInt,
      DEFAULT_MAX_DOWNSTREAM_CONNECTIONS,
    )
    .option('--tls-cert <file>', "mutual TLS to the cells: this Envoy's certificate (PEM; with --tls-key and --tls-ca)")
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--tls-ca <file>', "the CA certificate a cell's certificate must chain to (PEM)")
    .option(
      '--xds-tls',
      'reach the control plane over TLS with --tls-cert/--tls-key/--tls-ca (its certificate must name spiffe://cellsim/control-plane)',
    )
    .option(
      '--admin-tls-listen <ip:port>',
      'serve the admin paths remote readers use (/ready, /stats/prometheus) here in mutual TLS (clients: the supervisor, the control plane), the admin itself on loopback only',
      parseXds,
    )
    .action(async (f: Flags) => {
      const tls = tlsFilesOf(f);
      if (tls) readTlsFiles(tls);
      const path = writeBootstrap(f);
      const child = spawn(
        requireBinary('envoy'),
        ['-c', path, '--use-dynamic-base-id', '--log-level', f.logLevel, '--concurrency', String(f.concurrency)],
        {
          stdio: 'inherit',
        },
      );
      const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
      process.on('SIGTERM', forward('SIGTERM'));
      process.on('SIGINT', forward('SIGINT'));
      const code = await new Promise<number>((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 128 : 1))));
      // Without --data the bootstrap went to a temporary directory of its own: it goes with Envoy.
      if (!f.data) rmSync(dirname(path), { recursive: true, force: true });
      process.exitCode = code === 0 || code === 143 ? 0 : code;
    });
}
