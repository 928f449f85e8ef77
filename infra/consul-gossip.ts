/**
 * Consul's Serf gossip encryption (docs/multi-host.md §TLS across hosts): Serf is not TLS in
 * Consul but its own symmetric encryption, one shared 32-byte key in the agent config's `encrypt`
 * (the key `consul keygen` makes). With it every agent drops gossip it cannot decrypt and sends
 * none in clear (`encrypt_verify_incoming` and `encrypt_verify_outgoing`, Consul's defaults, set
 * here all the same), so an agent without the key cannot join the cluster. The key is a secret:
 * made once per data directory in a file of mode 0600, and reaches Consul in a config file of mode
 * 0600, never on argv.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Reads the key at `path`, making it first (32 random bytes, base64) when missing. */
export function ensureGossipKey(path: string): string {
  if (!existsSync(path)) writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  const key = readFileSync(path, 'utf8').trim();
  if (Buffer.from(key, 'base64').length !== 32) throw new Error(`${path}: not a base64 32-byte Consul gossip key`);
  return key;
}

/** The agent config (HCL) that encrypts gossip with `key` and accepts nothing else. */
export function gossipConfigHcl(key: string): string {
  return [`encrypt = ${JSON.stringify(key)}`, 'encrypt_verify_incoming = true', 'encrypt_verify_outgoing = true', ''].join('\n');
}

/** Writes the config file (mode 0600) and answers the argument that loads it. */
export function writeGossipConfig(path: string, key: string): string[] {
  writeFileSync(path, gossipConfigHcl(key), { mode: 0o600 });
  chmodSync(path, 0o600);
  return [`-config-file=${path}`];
}
