/**
 * `cellctl up --tls` (docs/security.md §TLS): the flags each child gets for its certificate under
 * `<data>/tls/`, the scheme of the URLs it serves, and the readiness probes' HTTPS client, which
 * trusts the local CA (Node's built-in fetch takes no CA, hence undici's Agent).
 */
import { readFileSync } from 'node:fs';
import { Agent, fetch } from 'undici';
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

const agents = new Map<string, Agent>();

/** The probes' client of `cfg`'s CA (one Agent per data directory). */
function agentOf(cfg: TopologyConfig): Agent {
  let agent = agents.get(cfg.dataDir);
  if (!agent) {
    agent = new Agent({ connect: { ca: readFileSync(tlsFiles(tlsDir(cfg.dataDir), '').ca, 'utf8') } });
    agents.set(cfg.dataDir, agent);
  }
  return agent;
}

/** A GET of `url` within `timeoutMs`: status and body; over HTTPS trusting the local CA. */
export async function probe(cfg: TopologyConfig, url: string, timeoutMs: number): Promise<{ ok: boolean; body: string }> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    ...(url.startsWith('https:') ? { dispatcher: agentOf(cfg) } : {}),
  });
  return { ok: res.ok, body: await res.text() };
}
