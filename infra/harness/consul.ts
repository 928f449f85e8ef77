/** A real Consul dev agent on free ports, for tests and the local topology. */
import { requireBinary } from '../binaries.js';
import { freePorts } from '../ports.js';
import { ProcessStartError, startProcess, waitFor, type ManagedProcess } from '../process.js';
import { consulArgs, type ConsulPorts } from '../consul-agent.js';

/** A running Consul agent. */
export interface ConsulAgent {
  proc: ManagedProcess;
  /** `http://127.0.0.1:<port>` */
  url: string;
  httpPort: number;
  /** The ports the agent binds, so a restart can reuse them. */
  ports: ConsulPorts;
}

/** Picks free ports for an agent. */
export async function consulPorts(): Promise<ConsulPorts> {
  const [http, serfLan, serfWan, server, grpc] = await freePorts(5);
  return { http: http!, serfLan: serfLan!, serfWan: serfWan!, server: server!, grpc: grpc! };
}

/**
 * True when Consul failed to start because one of its ports was taken: it says so only in its
 * own output, so that output is read, never the error's message.
 */
export function portTaken(err: unknown): boolean {
  return err instanceof ProcessStartError && /address already in use/.test(err.output);
}

/** Attempts at fresh ports when one of the picked ports was taken before Consul bound it. */
const PORT_ATTEMPTS = 3;

/**
 * Starts a Consul dev agent and waits until it has a leader and accepts KV writes. Ports picked
 * here are free when picked, not reserved: when another process takes one before Consul binds
 * it, the agent is started again on fresh ports (never when the caller chose the ports).
 */
export async function startConsul(opts: { ports?: ConsulPorts; dataDir?: string; name?: string } = {}): Promise<ConsulAgent> {
  for (let attempt = 1; ; attempt++) {
    const ports = opts.ports ?? (await consulPorts());
    try {
      return await startOn(ports, opts);
    } catch (err) {
      if (opts.ports !== undefined || !portTaken(err) || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

async function startOn(ports: ConsulPorts, opts: { dataDir?: string; name?: string }): Promise<ConsulAgent> {
  const url = `http://127.0.0.1:${ports.http}`;
  const proc = await startProcess({
    name: opts.name ?? 'consul',
    command: requireBinary('consul'),
    args: consulArgs(ports, opts.dataDir),
    ready: {
      check: async () => {
        const res = await fetch(`${url}/v1/status/leader`, { signal: AbortSignal.timeout(1000) });
        const leader = (await res.text()).replace(/"/g, '');
        return res.ok && leader.length > 0;
      },
    },
    readyTimeoutMs: 30_000,
  });
  // A leader can exist a moment before the KV store answers; wait for a real write.
  await waitFor(
    async () => {
      const res = await fetch(`${url}/v1/kv/_cellsim_ready`, { method: 'PUT', body: '1', signal: AbortSignal.timeout(1000) });
      return res.ok;
    },
    15_000,
    () => 'consul KV to accept writes',
  );
  await fetch(`${url}/v1/kv/_cellsim_ready`, { method: 'DELETE' });
  return { proc, url, httpPort: ports.http, ports };
}
