/**
 * The ACL settings of a Consul agent run by cellsim (docs/security.md §Consul ACLs): ACLs on,
 * `default_policy = "deny"`, the management token created at the first leader election
 * (`initial_management`, so a restart with the same token changes nothing) and the agent's own
 * token. Both are secrets, so they reach Consul in a config file of mode 0600, never on argv.
 */
import { writeFileSync, chmodSync } from 'node:fs';

/** The two tokens an agent's config names. Consul wants UUIDs. */
export interface AgentAclTokens {
  management: string;
  agent: string;
}

/** The `acl` block of the agent config (HCL). */
export function aclConfigHcl(t: AgentAclTokens): string {
  return [
    'acl {',
    '  enabled = true',
    '  default_policy = "deny"',
    // While the servers are unreachable, tokens already resolved keep their rights (Consul's default is extend-cache too).
    '  down_policy = "extend-cache"',
    '  tokens {',
    `    initial_management = ${JSON.stringify(t.management)}`,
    `    agent = ${JSON.stringify(t.agent)}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Writes the config file (mode 0600) and answers the argument that loads it. */
export function writeAclConfig(path: string, t: AgentAclTokens): string[] {
  writeFileSync(path, aclConfigHcl(t), { mode: 0o600 });
  chmodSync(path, 0o600);
  return [`-config-file=${path}`];
}

/** The rules of the agent's own token: write on its node (anti-entropy sync), read of services. */
export function agentPolicyRules(node: string): string {
  return `node ${JSON.stringify(node)} { policy = "write" }\nservice_prefix "" { policy = "read" }\n`;
}
