/**
 * The network's part in a `cellctl up --hosts` run: made before the first child starts (after
 * removing what crashed runs left), removed after the last child stopped, and shown in
 * topology.json and the status table (docs/multi-host.md).
 */
import Table from 'cli-table3';
import { createNetwork, removeLeftovers, removeRun } from './netns.js';
import type { HostPlan } from './plan.js';

/** Removes leftovers of dead runs, then makes this run's bridge, namespaces and links. */
export async function networkUp(plan: HostPlan, progress: (line: string) => void): Promise<void> {
  const gone = await removeLeftovers();
  if (gone.length > 0)
    progress(`removed the namespaces and links of earlier runs whose supervisor is gone: ${gone.map((r) => `cs-${r}-*`).join(', ')}`);
  progress(`making ${plan.hosts.length} hosts on bridge ${plan.bridge} (${plan.gateway}/${plan.cidr})`);
  await createNetwork(plan);
}

/** Removes every namespace and link of the run. */
export async function networkDown(plan: HostPlan, progress: (line: string) => void): Promise<void> {
  const removed = await removeRun(plan.run);
  progress(`removed ${removed.length} namespaces and links of run ${plan.run}`);
}

/** The `hosts` section of topology.json: each host with its address, namespace and children. */
export function hostsView(plan: HostPlan, children: { name: string; host?: string }[]): Record<string, unknown> {
  return {
    run: plan.run,
    bridge: plan.bridge,
    gateway: plan.gateway,
    hosts: plan.hosts.map((h) => ({
      name: h.name,
      role: h.role,
      ip: h.ip,
      ns: h.ns,
      consul: h.consul,
      children: children.filter((c) => c.host === h.name).map((c) => c.name),
    })),
  };
}

/** The hosts table `cellctl up --hosts` prints: host, role, address, Consul agent, children. */
export function hostsTable(view: unknown): string {
  const v = view as { bridge: string; hosts: { name: string; role: string; ip: string; consul: string; children: string[] }[] };
  const t = new Table({ head: ['host', 'role', 'address', 'consul', 'runs'] });
  for (const h of v.hosts) t.push([h.name, h.role, h.ip, h.consul, h.children.filter((c) => !c.startsWith('consul.')).join(', ') || '-']);
  return `${t.toString()}\nhosts: network namespaces on bridge ${v.bridge}`;
}
