/**
 * The `hosts` section of a `cellctl up --hosts` topology.json (docs/contracts.md §Multi-host),
 * read into what a network drill needs. Undefined for a topology on one host.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { tlsDir, tlsFiles } from '../../shared/pki/names.js';
import { readConsulToken } from '../../shared/consul-acl.js';
import type { Topology } from './topology-file.js';
import type { HostsInfo } from './types.js';

const HostsSchema = z.object({
  hosts: z.array(
    z
      .object({
        name: z.string(),
        role: z.string(),
        ip: z.string(),
        ns: z.string(),
        consul: z.string(),
        children: z.array(z.string()).default([]),
      })
      .passthrough(),
  ),
});

/**
 * The Consul agent a drill reads through: the control plane host's client agent under `--hosts`
 * (a network drill kills servers and cuts cell hosts, never that host), else the one agent.
 */
export function consulReadUrl(t: Topology): string {
  const parsed = HostsSchema.safeParse((t as Record<string, unknown>).hosts);
  const cp = parsed.success ? parsed.data.hosts.find((h) => h.role === 'control-plane') : undefined;
  return cp ? agentUrl(t, cp.ip) : t.consul.url;
}

/** The URL of the Consul agent at `ip`, in the scheme and on the port of topology.json's Consul (HTTPS under `--tls`). */
function agentUrl(t: Topology, ip: string): string {
  const u = new URL(t.consul.url);
  return `${u.protocol}//${ip}:${u.port}`;
}

/** The hosts of topology `t` (undefined without `--hosts`). */
export function hostsInfo(t: Topology, dataDir: string): HostsInfo | undefined {
  const parsed = HostsSchema.safeParse((t as Record<string, unknown>).hosts);
  if (!parsed.success) return undefined;
  const hosts = parsed.data.hosts;
  return {
    consulServers: hosts
      .filter((h) => h.consul === 'server')
      .map((h) => ({ host: h.name, component: `consul.${h.name}`, ip: h.ip, url: agentUrl(t, h.ip) })),
    cellNamespaces: Object.fromEntries(hosts.filter((h) => h.role === 'cell').map((h) => [h.name, h.ns])),
    clientNetns: hosts.find((h) => h.role === 'client')?.ns ?? '',
    consulToken: readConsulToken(dataDir, 'management'),
    ...(t.consul.url.startsWith('https:') ? { consulCa: readFileSync(tlsFiles(tlsDir(dataDir), '').ca, 'utf8') } : {}),
    edges: hosts
      .filter((h) => h.role === 'edge')
      .map((h) => ({ host: h.name, children: h.children.filter((c) => !c.startsWith('consul.')) })),
    controlPlaneHost: hosts.find((h) => h.role === 'control-plane')?.name ?? '',
  };
}
