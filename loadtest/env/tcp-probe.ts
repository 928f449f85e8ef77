/**
 * A drill's look at a component that speaks no HTTP (a Kafka broker): a TCP connect to its
 * listener every 250 ms, recording whether it accepted. A killed broker refuses at once; a live
 * one accepts (the supervisor's own liveness test of a broker). Probes have the shape of
 * probe.ts's, so {@link downObserved} judges them the same way.
 */
import { tcpConnect } from '../../shared/tcp-connect.js';
import { PROBE_TIMEOUT_MS, watchProbes, type Probe, type ProbeWatch } from './probe.js';

/** One probe: a TCP connect to `host:port`, closed at once when accepted. */
export async function tcpProbeOnce(host: string, port: number, timeoutMs = PROBE_TIMEOUT_MS): Promise<Probe> {
  const at = Date.now();
  const { accepted, detail } = await tcpConnect(host, port, timeoutMs);
  return { at, answered: accepted, detail };
}

/** Probes `host:port` every `intervalMs` until stopped; one probe starts at once. */
export function watchTcp(host: string, port: number, intervalMs = 250): ProbeWatch {
  return watchProbes(() => tcpProbeOnce(host, port), intervalMs);
}

/** `host:port` of a bootstrap address (`127.0.0.1:9201`). */
export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0) throw new Error(`not host:port: '${address}'`);
  return { host: address.slice(0, i), port };
}
