/**
 * Consul ACLs of a topology (docs/security.md §Consul ACLs): one token per kind of component,
 * each with a least-privilege policy built from the KV prefix (shared/kv.ts KvLayout) and the
 * service names (shared/consul-watch.ts). The agent runs with `default_policy = "deny"`, so a
 * request without a token (or with one these policies do not cover) is refused.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConsulClient } from './consul/client.js';
import { SERVICE_CELL, SERVICE_DELIVERY, SERVICE_ROUTER, SERVICE_XDS } from './consul-watch.js';
import { KvLayout } from './kv.js';

/** The Consul token kinds of a topology, besides the management token that makes them. */
export const CONSUL_TOKEN_KINDS = ['agent', 'supervisor', 'control-plane', 'router', 'cell'] as const;
/** One kind: the agent's own, `cellctl up`'s supervisor, the control plane, routers, cells. */
export type ConsulTokenKind = (typeof CONSUL_TOKEN_KINDS)[number];

/** Every Consul token file of a topology: the management token and one per kind. */
export type ConsulTokenFile = ConsulTokenKind | 'management';

/** `<data>/tokens/consul-<kind>`: beside the admin tokens (shared/tokens.ts), same modes. */
export function consulTokenPath(dataDir: string, kind: ConsulTokenFile): string {
  return join(dataDir, 'tokens', `consul-${kind}`);
}

/** The token in a Consul token file (one line, a UUID). */
export function readConsulToken(dataDir: string, kind: ConsulTokenFile): string {
  const t = readFileSync(consulTokenPath(dataDir, kind), 'utf8').trim();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(t)) {
    throw new Error(`${consulTokenPath(dataDir, kind)}: not a Consul token (a UUID)`);
  }
  return t;
}

/**
 * Makes every missing Consul token file of a topology (a random UUID each: Consul wants UUIDs;
 * directory 0700, files 0600) and tightens the mode of those that exist; answers those made.
 * Made once per data directory and kept: a restart presents the same tokens to Consul.
 */
export function ensureConsulTokenFiles(dataDir: string): { secrets: Record<ConsulTokenFile, string>; created: ConsulTokenFile[] } {
  const dir = join(dataDir, 'tokens');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const created: ConsulTokenFile[] = [];
  const secrets = {} as Record<ConsulTokenFile, string>;
  for (const kind of ['management', ...CONSUL_TOKEN_KINDS] as const) {
    const path = consulTokenPath(dataDir, kind);
    if (existsSync(path)) chmodSync(path, 0o600);
    else {
      writeFileSync(path, `${randomUUID()}\n`, { mode: 0o600, flag: 'wx' });
      created.push(kind);
    }
    secrets[kind] = readConsulToken(dataDir, kind);
  }
  return { secrets, created };
}

/** The key `cellctl up` writes once to see that Consul's KV store takes writes. */
export const READY_KEY = '_cellsim_ready';

const q = (s: string) => JSON.stringify(s);
const rule = (kind: string, name: string, policy: 'read' | 'write') => `${kind} ${q(name)} { policy = ${q(policy)} }`;

/**
 * The rules of each kind for a KV prefix, Consul's HCL rule language. What each needs:
 * - agent: write on its own node (its anti-entropy sync; every host's node under `cellctl up
 *   --hosts`, whose agents share the token), read of the services it holds;
 * - router: read of `markets/`, `cells/` and `changes/` and of the passing cells (service and
 *   node read: a health answer is filtered on both), write of its own `cellsim-router` service;
 * - cell: write of the `cellsim-cell` service and of a cell's delivery service `cellsim-delivery`
 *   (registration and its check), nothing else;
 * - control plane: the whole prefix (map, cells, migrations, rollouts, audit, locks, change log),
 *   sessions for its locks, its `cellsim-xds` service, read of every cellsim service, and write of
 *   `cellsim-cell` to deregister a retired cell's instances;
 * - supervisor (`cellctl up`): the prefix (seeding), its ready key, `cellsim-cell` (it removes
 *   the registration of a cell moved to a fresh port).
 */
export function aclRules(prefix: string, node: string | readonly string[]): Record<ConsulTokenKind, string> {
  const l = new KvLayout(prefix);
  const lines = (...r: string[]) => `${r.join('\n')}\n`;
  return {
    agent: lines(...[node].flat().map((n) => rule('node', n, 'write')), rule('service_prefix', '', 'read')),
    router: lines(
      rule('key_prefix', l.marketsPrefix, 'read'),
      rule('key_prefix', l.cellsPrefix, 'read'),
      rule('key_prefix', `${l.prefix}changes/`, 'read'),
      rule('service', SERVICE_CELL, 'read'),
      rule('service', SERVICE_ROUTER, 'write'),
      rule('node_prefix', '', 'read'),
    ),
    cell: lines(rule('service', SERVICE_CELL, 'write'), rule('service', SERVICE_DELIVERY, 'write')),
    'control-plane': lines(
      rule('key_prefix', l.prefix, 'write'),
      rule('session_prefix', '', 'write'),
      rule('service', SERVICE_XDS, 'write'),
      rule('service', SERVICE_CELL, 'write'),
      rule('service_prefix', 'cellsim-', 'read'),
      rule('node_prefix', '', 'read'),
    ),
    supervisor: lines(
      rule('key_prefix', l.prefix, 'write'),
      rule('key', READY_KEY, 'write'),
      rule('service', SERVICE_CELL, 'write'),
      rule('node_prefix', '', 'read'),
    ),
  };
}

/** The policy name of a kind for a prefix: `cellsim-router` for `cellsim/`. */
export function policyName(prefix: string, kind: ConsulTokenKind): string {
  const slug = prefix.replace(/\/+$/, '').replace(/[^A-Za-z0-9_-]/g, '-') || 'root';
  return `${slug}-${kind}`;
}

/**
 * Makes (or brings up to date) every kind's policy and its token with the secret given, through
 * `management` (a client holding the management token). Idempotent: run at every start. With
 * `kinds`, those kinds only (a host added to a running `cellctl up --hosts` changes the agent's).
 */
export async function ensureAclTokens(
  management: ConsulClient,
  o: { prefix: string; node: string | readonly string[]; secrets: Record<ConsulTokenKind, string>; kinds?: readonly ConsulTokenKind[] },
): Promise<void> {
  const rules = aclRules(o.prefix, o.node);
  for (const kind of o.kinds ?? CONSUL_TOKEN_KINDS) {
    const name = policyName(o.prefix, kind);
    await management.acl.upsertPolicy({ name, rules: rules[kind], description: `cellsim ${kind} (${o.prefix})` }, { timeoutMs: 5000 });
    await management.acl.upsertToken(
      { secretId: o.secrets[kind], description: `cellsim ${kind} (${o.prefix})`, policies: [name] },
      { timeoutMs: 5000 },
    );
  }
}
