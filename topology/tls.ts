/**
 * `cellctl up --tls` (docs/security.md §TLS): the flags each child gets for its certificate under
 * `<data>/tls/`, the scheme of the URLs it serves, and the readiness probes' HTTPS client, which
 * trusts the local CA (shared/pki/client.ts `caClient`: Node's built-in fetch takes no CA).
 */
import { readFileSync } from 'node:fs';
import { fileStamp } from '../shared/file-watch.js';
import { caClient, type PeerClient } from '../shared/pki/client.js';
import { pemCertificates } from '../shared/pki/identity.js';
import { tlsMaterialProblem } from '../shared/pki/reload.js';
import { tlsDir, tlsFiles } from '../shared/pki/names.js';
import type { TopologyConfig } from './config.js';

/** `--tls-cert/--tls-key/--tls-ca` of component `name` under `--tls`, else nothing. */
export function tlsArgsOf(cfg: TopologyConfig, name: string): string[] {
  if (!cfg.tls) return [];
  const f = tlsFiles(tlsDir(cfg.dataDir), name);
  return ['--tls-cert', f.cert, '--tls-key', f.key, '--tls-ca', f.ca];
}

/** `https` under `--tls`, else `http`. */
export function schemeOf(cfg: TopologyConfig): 'http' | 'https' {
  return cfg.tls ? 'https' : 'http';
}

const cas = new Map<string, { stamp: string; pem: string }>();
const clients = new Map<string, { stamp: string; client: PeerClient }>();

/**
 * The local CA's certificate (PEM) of `cfg`'s data directory: read again when the file changed
 * (a CA rotation rewrites it, docs/tls.md §Rotating the CA), the last one kept while the file
 * holds no certificate.
 */
export function topologyCa(cfg: TopologyConfig): string {
  const file = tlsFiles(tlsDir(cfg.dataDir), '').ca;
  const stamp = fileStamp([file]);
  const known = cas.get(cfg.dataDir);
  if (known?.stamp === stamp) return known.pem;
  const pem = readFileSync(file, 'utf8');
  if (known && !pemCertificates(pem).length) return known.pem;
  cas.set(cfg.dataDir, { stamp, pem });
  return pem;
}

/**
 * The probes' client of `cfg`'s CA (one per data directory), presenting `as`'s certificate when
 * given; a new one when those files changed and form a usable set (a rotated leaf or CA), the old
 * one closed after the probes it carries.
 */
function clientOf(cfg: TopologyConfig, as?: string): PeerClient {
  const key = `${cfg.dataDir}\0${as ?? ''}`;
  const own = as === undefined ? undefined : tlsFiles(tlsDir(cfg.dataDir), as);
  const stamp = fileStamp([tlsFiles(tlsDir(cfg.dataDir), '').ca, ...(own ? [own.cert, own.key] : [])]);
  const known = clients.get(key);
  if (known?.stamp === stamp) return known.client;
  const ca = topologyCa(cfg);
  const pair = own && { cert: readFileSync(own.cert, 'utf8'), key: readFileSync(own.key, 'utf8') };
  // A pair caught between its key and its certificate: keep the last client until both are in place.
  if (known && pair && tlsMaterialProblem({ ca, ...pair })) return known.client;
  const client = caClient(ca, pair);
  clients.set(key, { stamp, client });
  if (known) void known.client.close().catch(() => undefined);
  return client;
}

/**
 * A GET of `url` within `timeoutMs`: status and body; over HTTPS trusting the local CA, and
 * presenting the certificate of component `as` when given (a mutual-TLS endpoint).
 */
export async function probe(cfg: TopologyConfig, url: string, timeoutMs: number, as?: string): Promise<{ ok: boolean; body: string }> {
  const res = await (url.startsWith('https:') ? clientOf(cfg, as).fetch : fetch)(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { ok: res.ok, body: await res.text() };
}
