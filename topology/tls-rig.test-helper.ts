/**
 * What the TLS tests of the topology share (mtls, edge-tls, sds-rotation): the flags of a
 * certificate, an HTTPS GET trusting the local CA, the serial a TLS port serves, and an HTTPS
 * cell registered in Consul.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../infra/ports.js';
import type { ProcessScope } from '../infra/process.js';
import { tlsFiles, type TlsFiles } from '../shared/pki/store.js';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));

/** `--tls-cert/--tls-key/--tls-ca` of a component's files. */
export const tlsArgs = (f: TlsFiles) => ['--tls-cert', f.cert, '--tls-key', f.key, '--tls-ca', f.ca];

/** An HTTPS GET trusting `ca`, presenting `client` when given: status and body; status 0 with the error as body when no answer. */
export function httpsGet(
  url: string,
  ca: string,
  client?: TlsFiles,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        ca,
        headers,
        ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/**
 * The serial (lower-case hex, no leading zeros) of the certificate a new TLS connection to
 * `host:port` (default 127.0.0.1) is served, trusting `ca`; presenting `client`'s certificate and
 * offering ALPN `h2` when given (a gRPC server that requires a client certificate, e.g. xDS).
 */
export function servedSerial(port: number, ca: string, client?: TlsFiles, host = '127.0.0.1'): Promise<string> {
  const own = client ? { cert: readFileSync(client.cert), key: readFileSync(client.key), ALPNProtocols: ['h2'] } : {};
  return new Promise((resolve, reject) => {
    const s = connect({ port, host, ca, servername: 'localhost', timeout: 5000, ...own }, () => {
      resolve(s.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, ''));
      s.end();
    });
    s.on('error', reject);
    s.on('timeout', () => s.destroy(new Error(`no TLS handshake with ${host}:${port}`)));
  });
}

/**
 * Starts `cellctl cell --id <id>` (default cell-0) serving HTTPS with the certificate of `cert`
 * (default: its own) from `dir` (data under `tmp/<id>`), registered in Consul; ready once its
 * /readyz answers 200 over TLS.
 */
export async function startTlsCell(
  scope: ProcessScope,
  o: { tmp: string; dir: string; consulUrl: string; id?: string; cert?: string },
): Promise<{ url: string; port: number }> {
  const id = o.id ?? 'cell-0';
  const ca = readFileSync(join(o.dir, 'ca.crt'), 'utf8');
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  await scope.start({
    name: `${id}-tls`,
    command: process.execPath,
    args: [
      CELLCTL,
      'cell',
      '--id',
      id,
      '--port',
      String(port),
      '--data',
      join(o.tmp, id),
      '--consul',
      o.consulUrl,
      ...tlsArgs(tlsFiles(o.dir, o.cert ?? id)),
    ],
    env: { CELLSIM_CELL_ADMIN_TOKEN: 'test-admin-token-0123456789' },
    ready: { check: async () => (await httpsGet(`${url}/readyz`, ca)).status === 200 },
    readyTimeoutMs: 30_000,
  });
  return { url, port };
}
