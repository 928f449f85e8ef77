/**
 * A host's Consul agent back in the cluster once its cut link is restored
 * (docs/multi-host.md §Partitions). Cut long enough, the host's node is declared dead by the
 * others (Serf's `serfHealth` check critical, so none of its services passes), and nothing in
 * Serf contacts a dead member again before its reconnect pass, every 30 s at random: the cell
 * stays out of Consul's passing set that long after its link is back. Its agent asks a server to
 * join, as `-retry-join` does at its start: their member lists are exchanged, the agent hears it
 * was declared dead and refutes it, and the servers mark the node alive within a second.
 */
import type { Logger } from '../../shared/logger.js';
import { ConsulClient } from '../../shared/consul/client.js';
import { readConsulToken } from '../../shared/consul-acl.js';
import type { TopologyConfig } from '../config.js';
import { consulCa } from '../acl.js';
import { consulUrl } from '../wiring.js';
import type { Host } from './plan.js';

/** How long a restore tries to have the agent join (each try 2 s at most). */
export const REJOIN_BOUND_MS = 5000;

/**
 * Has the Consul agent of `host` join a server of the run (each in turn until one answers, for
 * up to `boundMs`); resolves with the server joined and the time it took, or throws with the
 * last error. A host without an agent, or a server host, is left alone (`undefined`).
 */
export async function rejoinServers(
  cfg: TopologyConfig,
  host: Host,
  log: Logger,
  boundMs = REJOIN_BOUND_MS,
): Promise<{ server: string; ms: number } | undefined> {
  const plan = cfg.hosts;
  if (!plan || host.consul !== 'client') return undefined;
  const servers = plan.hosts.filter((h) => h.consul === 'server');
  const agent = new ConsulClient({ url: consulUrl(cfg, host.name), token: readConsulToken(cfg.dataDir, 'management'), ca: consulCa(cfg) });
  const t0 = Date.now();
  let last: Error | undefined;
  for (let i = 0; Date.now() - t0 < boundMs; i++) {
    const s = servers[i % servers.length]!;
    try {
      await agent.agent.join(`${s.ip}:${cfg.ports.consul.serfLan}`, { timeoutMs: 2000 });
      return { server: s.name, ms: Date.now() - t0 };
    } catch (err) {
      last = err as Error;
      log.debug({ host: host.name, server: s.name, err: last.message }, 'consul join after the restore failed; trying again');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`the Consul agent of ${host.name} did not join a server within ${boundMs} ms: ${last?.message ?? 'no answer'}`);
}
