/**
 * `cellctl up --tls` (docs/security.md §TLS): the flags each child gets for its certificate under
 * `<data>/tls/`, the scheme of the URLs it serves, and the readiness probes' HTTPS client, which
 * trusts the local CA (shared/pki/client.ts `caClient`: Node's built-in fetch takes no CA).
 */
import { readFileSync } from 'node:fs';
import { caClient, type PeerClient } from '../shared/pki/client.js';
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

const cas = new Map<string, string>();
const clients = new Map<string, PeerClient>();

/** The local CA's certificate (PEM) of `cfg`'s data directory, read once. */
export function topologyCa(cfg: TopologyConfig): string {
  let ca = cas.get(cfg.dataDir);
  if (ca === undefined) {
    ca = readFileSync(tlsFiles(tlsDir(cfg.dataDir), '').ca, 'utf8');
    cas.set(cfg.dataDir, ca);
  }
  return ca;
}

/** The probes' client of `cfg`'s CA (one per data directory), presenting `as`'s certificate when given. */
function clientOf(cfg: TopologyConfig, as?: string): PeerClient {
  const key = `${cfg.dataDir}\0${as ?? ''}`;
  let client = clients.get(key);
  if (!client) {
    const own = as === undefined ? undefined : tlsFiles(tlsDir(cfg.dataDir), as);
    client = caClient(topologyCa(cfg), own && { cert: readFileSync(own.cert, 'utf8'), key: readFileSync(own.key, 'utf8') });
    clients.set(key, client);
  }
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
