/**
 * Consul ACLs of `cellctl up` (docs/security.md §Consul ACLs): the token files under
 * `<data>/tokens/consul-*` (made once per data directory), the agent's ACL config file, the
 * policies and tokens applied with the management token once Consul answers, and what each
 * child gets: the path of its own token file in CELLSIM_CONSUL_TOKEN_FILE, never a token, and
 * under `--tls` (Consul on HTTPS) the path of the CA in CELLSIM_CONSUL_CACERT.
 */
import { join } from 'node:path';
import { writeAclConfig } from '../infra/consul-acl.js';
import { ConsulClient, followConsulCa, type ConsulCa } from '../shared/consul/client.js';
import { consulTokenPath, ensureAclTokens, ensureConsulTokenFiles, readConsulToken, type ConsulTokenKind } from '../shared/consul-acl.js';
import { tlsDir, tlsFiles } from '../shared/pki/names.js';
import type { TopologyConfig } from './config.js';

/** The node name of the local agent (infra/consul-agent.ts `-node`). */
export const CONSUL_NODE = 'cellsim';

/** Under `--tls`, the CA file Consul's HTTPS certificate chains to (`<data>/tls/ca.crt`). */
function consulCaFile(cfg: TopologyConfig): string | undefined {
  return cfg.tls ? tlsFiles(tlsDir(cfg.dataDir), 'consul').ca : undefined;
}

/**
 * Under `--tls`, the CA a Consul client of the supervisor trusts: `<data>/tls/ca.crt`, followed
 * (shared/consul/tls.ts), so the supervisor's clients take a rotated CA as its children do.
 */
export function consulCa(cfg: TopologyConfig): ConsulCa | undefined {
  const file = consulCaFile(cfg);
  return file ? followConsulCa(file) : undefined;
}

/**
 * Makes the token files if missing, writes `<data>/tokens/consul-acl.hcl` (mode 0600: it names
 * the management and agent tokens) and answers the agent argument that loads it.
 */
export function consulAclArgs(cfg: TopologyConfig): string[] {
  const { secrets } = ensureConsulTokenFiles(cfg.dataDir);
  return writeAclConfig(join(cfg.dataDir, 'tokens', 'consul-acl.hcl'), { management: secrets.management, agent: secrets.agent });
}

/**
 * Applies every kind's policy and token (or those of `kinds`) through the management token;
 * idempotent, run at every start. Retried until `timeoutMs`: a new leader makes the management
 * token a moment after it is elected.
 */
export async function applyConsulAcl(
  cfg: TopologyConfig,
  url: string,
  timeoutMs = 30_000,
  kinds?: readonly ConsulTokenKind[],
): Promise<void> {
  const { secrets } = ensureConsulTokenFiles(cfg.dataDir);
  const management = new ConsulClient({ url, token: secrets.management, ca: consulCa(cfg) });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // Under --hosts every agent is a node of its own host (topology/hosts/plan.ts).
      const node = cfg.hosts ? cfg.hosts.hosts.filter((h) => h.consul !== 'none').map((h) => h.name) : CONSUL_NODE;
      return await ensureAclTokens(management, { prefix: cfg.prefix, node, secrets, ...(kinds ? { kinds } : {}) });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * The environment of a child that reaches Consul as `kind`: the path of its token file, and under
 * `--tls` the path of the CA of Consul's HTTPS certificate (shared/consul/tls.ts).
 */
export function consulTokenEnv(cfg: TopologyConfig, kind: ConsulTokenKind): Record<string, string> {
  // CELLSIM_CONSUL_TOKEN cleared: the file is the child's only token, whatever `up` inherited; the
  // CA variable too, unless this topology names one.
  return {
    CELLSIM_CONSUL_TOKEN_FILE: consulTokenPath(cfg.dataDir, kind),
    CELLSIM_CONSUL_TOKEN: '',
    CELLSIM_CONSUL_CACERT: consulCaFile(cfg) ?? '',
  };
}

/** A Consul client of the supervisor itself (seeding, its ready key, moved cells). */
export function supervisorConsul(cfg: TopologyConfig, url: string): ConsulClient {
  return new ConsulClient({ url, token: readConsulToken(cfg.dataDir, 'supervisor'), ca: consulCa(cfg) });
}
