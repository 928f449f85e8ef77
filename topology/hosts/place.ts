/**
 * Where a child of the topology runs: on 127.0.0.1 in the supervisor's own network, or, under
 * `cellctl up --hosts`, at its host's address inside the host's network namespace (started
 * through `ip netns exec`). `topology/wiring.ts` builds every child through {@link placeOf}.
 */
import type { TopologyConfig } from '../config.js';
import { edgeHost, host } from './plan.js';

/** A child's address and, under `--hosts`, its namespace and host name. */
export interface Place {
  ip: string;
  ns?: string;
  host?: string;
}

/** The place of host `hostName` (ignored without `--hosts`: everything is on 127.0.0.1). */
export function placeOf(cfg: TopologyConfig, hostName: string): Place {
  if (!cfg.hosts) return { ip: '127.0.0.1' };
  const h = host(cfg.hosts, hostName);
  return { ip: h.ip, ns: h.ns, host: h.name };
}

/** The command line run at `place`: unchanged on loopback, else wrapped in `ip netns exec <ns>`. */
export function inPlace(place: Place, cmd: { command: string; args: string[] }): { command: string; args: string[] } {
  if (!place.ns) return cmd;
  return { command: 'ip', args: ['netns', 'exec', place.ns, cmd.command, ...cmd.args] };
}

/**
 * What the child spec adds at `place`: its host, and no loopback port checks (the ports a child
 * binds inside a namespace are its host's own, never the supervisor's).
 */
export function placeFields(place: Place): { host?: string; binds?: number[] } {
  return place.ns ? { host: place.host, binds: [] } : {};
}

/** The place of router and Envoy `i` (0-based): its edge host under `--hosts`. */
export function edgePlaceOf(cfg: TopologyConfig, i: number): Place {
  return cfg.hosts ? placeOf(cfg, edgeHost(cfg.hosts, i).name) : placeOf(cfg, '');
}
