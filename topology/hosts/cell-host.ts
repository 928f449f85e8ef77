/**
 * The host of a cell added or retired while `cellctl up --hosts` runs
 * (docs/multi-host.md §Cells added and retired): `cellctl cells add` makes the cell's host before its cell starts (the host in
 * the run's plan, its namespace and link on the bridge, under `--tls` its certificates, its
 * Consul client agent joined to the servers); `cellctl cells retire` removes it after its cell
 * stopped (the agent stopped, forced out of the cluster and pruned from the members list, the namespace and link go).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import { ConsulClient } from '../../shared/consul/client.js';
import { readConsulToken } from '../../shared/consul-acl.js';
import { ensureCertificates, tlsDir, topologyLeaves } from '../../shared/pki/store.js';
import type { Child, ChildSpec } from '../child.js';
import type { TopologyConfig } from '../config.js';
import { applyConsulAcl, consulCa } from '../acl.js';
import { consulAgentName, consulAgentSpec, consulUrl } from '../wiring.js';
import { addHost, removeHost } from './netns.js';
import { addCellHost, dropCellHost, leafAddresses } from './plan.js';

/** What the supervisor lends: its config (whose `hosts` plan changes here) and its children. */
export interface CellHostOwner {
  readonly cfg: TopologyConfig;
  add(spec: ChildSpec): Child;
  drop(name: string): Promise<void>;
  progress(line: string): void;
  log: Logger;
}

/**
 * Under `--tls`, the certificate of `cell` (its leaf names its host's address under `--hosts`),
 * and the others' re-issued when they lack an address of the plan (the one Consul certificate
 * names every agent's host, the new one's too). Nothing to do when every leaf is current.
 */
export async function cellCertificates(cfg: TopologyConfig, cell: string): Promise<void> {
  if (!cfg.tls) return;
  await ensureCertificates(tlsDir(cfg.dataDir), topologyLeaves([cell], cfg.hosts ? leafAddresses(cfg.hosts) : {}));
}

/**
 * Makes the host of `cell` unless the plan has it (a cell of `--cells`, or one made already):
 * plan, namespace and link, certificates, the agent's ACL rights on its node, then its Consul
 * client agent, ready once it knows the leader. A failure removes what was made and throws.
 */
export async function cellHostUp(o: CellHostOwner, cell: string): Promise<void> {
  const plan = o.cfg.hosts;
  if (!plan || plan.hosts.some((h) => h.name === cell && h.role === 'cell')) return;
  const h = addCellHost(plan, cell);
  // Each step names itself in the error, which the operator gets (`503 cell_start_failed`).
  const step = async <T>(what: string, act: () => Promise<T>): Promise<T> => {
    try {
      return await act();
    } catch (err) {
      throw new Error(`making host ${h.name} (${h.ip}): ${what}: ${(err as Error).message}`, { cause: err });
    }
  };
  try {
    const t0 = Date.now();
    o.progress(`making host ${h.name} (${h.ip}, ${h.ns}) on bridge ${plan.bridge}`);
    await step('its namespace and link', () => addHost(plan, h));
    await step('its certificates', () => cellCertificates(o.cfg, cell));
    // The agent token writes the node of every host of the plan, this one's now too: done while
    // the agent boots (seconds), well before its cell registers (the agent syncs the node then).
    await Promise.all([
      step("the agent token's rights on its node", () => applyConsulAcl(o.cfg, consulUrl(o.cfg), 30_000, ['agent'])),
      step(`its Consul agent ${consulAgentName(cell)}`, () => o.add(consulAgentSpec(o.cfg, h)).start(AGENT_READY_MS)),
    ]);
    o.progress(`host ${h.name}: its Consul agent joined the cluster after ${Date.now() - t0} ms`);
  } catch (err) {
    await cellHostDown(o, cell).catch((e: Error) => o.log.warn({ cell, err: e.message }, 'removing a half-made host failed'));
    throw err;
  }
}

/** How long an added host's Consul agent has to know the leader. */
const AGENT_READY_MS = 60_000;

/**
 * Removes the host of `cell` once its cell stopped: its agent stopped (SIGTERM; its log said
 * "Shutdown without a Leave"), then forced out and pruned from the members list, its namespace and link, its agent's
 * data, its node off the agent token's rights. No-op without `--hosts` or when the plan has no
 * such cell host.
 */
export async function cellHostDown(o: CellHostOwner, cell: string): Promise<void> {
  const plan = o.cfg.hosts;
  const h = plan?.hosts.find((x) => x.name === cell && x.role === 'cell');
  if (!plan || !h) return;
  await o.drop(consulAgentName(cell));
  const management = new ConsulClient({
    url: consulUrl(o.cfg),
    token: readConsulToken(o.cfg.dataDir, 'management'),
    ca: consulCa(o.cfg),
  });
  // A stopped node stays listed (`failed`, then `left` for 72 h); forced out and pruned, nothing of it is left.
  await management.agent
    .forceLeave(cell, { prune: true, timeoutMs: 5000 })
    .catch((err: Error) => o.log.warn({ cell, err: err.message }, 'pruning the agent from the members list failed'));
  await removeHost(h);
  dropCellHost(plan, cell);
  rmSync(join(o.cfg.dataDir, 'hosts', cell), { recursive: true, force: true });
  await applyConsulAcl(o.cfg, consulUrl(o.cfg), 5000, ['agent']).catch((err: Error) =>
    o.log.warn({ cell, err: err.message }, 'updating the agent policy failed'),
  );
  o.progress(`removed host ${h.name} (${h.ip}, ${h.ns})`);
}
