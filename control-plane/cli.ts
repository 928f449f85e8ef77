/** `cellctl control-plane`: runs the control plane in the foreground until SIGTERM/SIGINT. */
import { Command, Option } from 'commander';
import { DEFAULT_PREFIX } from '../shared/kv.js';
import { neverFromEnv, parseDurationMs, parsePort, parseUrl } from '../shared/cli.js';
import { TOKEN_ENV, adminApiTokens, resolveToken } from '../shared/tokens.js';
import { start, type ControlPlaneOptions } from './main.js';
import { readTlsFiles, tlsFilesOf, TlsConfigError } from '../shared/pki/identity.js';
import { tlsFiles } from '../shared/pki/names.js';

/** The parsed flags: the control plane's options, all but the test-only `register` and the tokens, which come from files or the environment. */
type Flags = Omit<
  ControlPlaneOptions,
  'register' | 'adminTokens' | 'cellAdminToken' | 'supervisorToken' | 'routerAdminToken' | 'xdsTls' | 'sdsFiles' | 'peerTls' | 'apiTls'
> & {
  peerTls?: boolean;
  apiTls?: boolean;
  sdsDir?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  operatorTokenFile?: string;
  readTokenFile?: string;
  tokensFile?: string;
  cellAdminTokenFile?: string;
  supervisorTokenFile?: string;
  routerAdminTokenFile?: string;
};

/** The tokens of the flags' files, else of the CELLSIM_*_TOKEN variables (shared/tokens.ts); never a secret on argv. */
function tokensOf(f: Flags): Pick<ControlPlaneOptions, 'adminTokens' | 'cellAdminToken' | 'supervisorToken' | 'routerAdminToken'> {
  const cellAdminToken = resolveToken('cell-admin', f.cellAdminTokenFile);
  const supervisorToken = resolveToken('supervisor', f.supervisorTokenFile);
  const routerAdminToken = resolveToken('router-admin', f.routerAdminTokenFile);
  const adminTokens = adminApiTokens({
    operatorTokenFile: f.operatorTokenFile,
    readTokenFile: f.readTokenFile,
    tokensFile: f.tokensFile,
    others: [
      { kind: 'cell-admin', token: cellAdminToken },
      { kind: 'supervisor', token: supervisorToken },
      { kind: 'router-admin', token: routerAdminToken },
    ],
  });
  return { adminTokens, cellAdminToken, supervisorToken, routerAdminToken };
}

/** Builds the command. */
export function command(): Command {
  return new Command('control-plane')
    .description('run the control plane: xDS server for Envoy (ADS, SotW and delta) fed from Consul, with its HTTP API')
    .requiredOption('--port <port>', 'HTTP port: /healthz /readyz /metrics /xds/status and the admin API', parsePort)
    .requiredOption('--xds-port <port>', 'xDS gRPC port Envoys connect to', parsePort)
    .requiredOption('--consul <url>', 'Consul HTTP address', parseUrl)
    .option('--host <ip>', 'address to bind and announce', '127.0.0.1')
    .option('--prefix <prefix>', 'Consul KV prefix', DEFAULT_PREFIX)
    .option('--id <id>', 'control-plane id (sent to Envoys, used in Consul)', 'cp-1')
    .option('--data <dir>', 'data directory')
    .option('--operator-token-file <path>', `file holding the admin API's operator token, every route (else ${TOKEN_ENV.operator})`)
    .option('--read-token-file <path>', `file holding the admin API's read-only token (else ${TOKEN_ENV.read})`)
    .option('--tokens-file <path>', 'JSON file of more named admin API tokens: {"tokens":[{"name","scope":"read"|"operator","token"}]}')
    .option('--cell-admin-token-file <path>', `file holding the cells' admin API token, for migrations (else ${TOKEN_ENV['cell-admin']})`)
    .option('--supervisor-token-file <path>', `file holding the supervisor's token, for rollouts (else ${TOKEN_ENV.supervisor})`)
    .option(
      '--router-admin-token-file <path>',
      `file holding the routers' route-view token, for the freeze barrier's GET /route (else ${TOKEN_ENV['router-admin']})`,
    )
    .option('--hold-ms <duration>', 'how long Envoy holds a request to a frozen market (0 = 503 at once)', parseDurationMs, 2000)
    .option(
      '--panic-ms <duration>',
      'a cell with no passing instance in Consul keeps its last passing ones in Envoy this long (0 = drop them at once)',
      parseDurationMs,
      60_000,
    )
    .option(
      '--flip-grace-ms <duration>',
      "after a cell's blue/green flip, Envoy keeps the previous color as a fallback (EDS priority 1) this long (0 = off)",
      parseDurationMs,
      10_000,
    )
    .option('--upstream-tls', "Envoy's clusters to the cells use mutual TLS (Envoys need cellctl envoy --tls-cert/--tls-key/--tls-ca)")
    .option('--edge-tls', "Envoys' edge listeners serve HTTPS with their certificate from SDS (needs --sds-dir)")
    .option(
      '--sds-dir <dir>',
      "Envoy's clusters to the cells use mutual TLS with secrets served by SDS from <dir>/envoy.crt, envoy.key and ca.crt (a <data>/tls/), watched: rewritten files are pushed to every Envoy",
    )
    .option(
      '--tls-cert <file>',
      'serve xDS over TLS with this certificate (PEM; with --tls-key and --tls-ca); Envoys need cellctl envoy --xds-tls',
    )
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--tls-ca <file>', "the CA an Envoy's client certificate must chain to (PEM)")
    .option(
      '--peer-tls',
      "cells and routers serve HTTPS: call the cells' admin API (migrations) and scrape cells' and routers' /metrics with the --tls-cert certificate, trusting --tls-ca only",
    )
    .option(
      '--api-tls',
      "serve the HTTP API (admin, console, hold endpoint) in HTTPS with the --tls-cert certificate; Envoys' hold cluster then speaks TLS to it",
    )
    .addOption(
      neverFromEnv(new Option('--test-hooks', 'mount test-only endpoints (NACK injection); never in production').default(false).hideHelp()),
    )
    .action(async (f: Flags) => {
      const xdsTls = tlsFilesOf(f);
      if (xdsTls) readTlsFiles(xdsTls);
      const sdsFiles = f.sdsDir ? tlsFiles(f.sdsDir, 'envoy') : undefined;
      if (f.edgeTls && !sdsFiles) throw new TlsConfigError('--edge-tls needs --sds-dir (the edge certificate comes by SDS)');
      if (sdsFiles) readTlsFiles(sdsFiles);
      if (f.peerTls && !xdsTls) throw new TlsConfigError('--peer-tls needs --tls-cert, --tls-key and --tls-ca (its client certificate)');
      if (f.apiTls && !xdsTls) throw new TlsConfigError('--api-tls needs --tls-cert, --tls-key and --tls-ca (its server certificate)');
      const cp = await start({
        ...f,
        ...tokensOf(f),
        xdsTls,
        sdsFiles,
        peerTls: f.peerTls ? xdsTls : undefined,
        apiTls: f.apiTls ? xdsTls : undefined,
      });
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await cp.stop();
      // A rollout's bake timer may still be pending: its record stays in Consul for the next
      // control plane to recover, so nothing is lost by leaving now.
      process.exit(0);
    });
}
