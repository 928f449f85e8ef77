/** A real Consul dev agent on free ports, for tests and the local topology. */
import { requireBinary } from '../binaries.js';
import { freePorts } from './ports.js';
import { startProcess, waitFor, type ManagedProcess } from './process.js';

/** A running Consul agent. */
export interface ConsulAgent {
  proc: ManagedProcess;
  /** `http://127.0.0.1:<port>` */
  url: string;
  httpPort: number;
  /** The ports the agent binds, so a restart can reuse them. */
  ports: ConsulPorts;
}

/** Every port a dev agent binds. */
export interface ConsulPorts {
  http: number;
  serfLan: number;
  serfWan: number;
  server: number;
  grpc: number;
}

/** Picks free ports for an agent. */
export async function consulPorts(): Promise<ConsulPorts> {
  const [http, serfLan, serfWan, server, grpc] = await freePorts(5);
  return { http: http!, serfLan: serfLan!, serfWan: serfWan!, server: server!, grpc: grpc! };
}

/** The arguments of a loopback-only dev agent on `ports` (`dataDir` makes it persistent: not -dev). */
export function consulArgs(ports: ConsulPorts, opts: { dataDir?: string; nodeName?: string } = {}): string[] {
  const common = [
    '-bind=127.0.0.1',
    '-client=127.0.0.1',
    `-http-port=${ports.http}`,
    '-dns-port=-1',
    `-serf-lan-port=${ports.serfLan}`,
    `-serf-wan-port=${ports.serfWan}`,
    `-server-port=${ports.server}`,
    `-grpc-port=${ports.grpc}`,
    '-grpc-tls-port=-1',
    `-node=${opts.nodeName ?? 'cellsim'}`,
    '-log-level=warn',
    '-log-json',
  ];
  return opts.dataDir
    ? ['agent', '-server', '-bootstrap-expect=1', `-data-dir=${opts.dataDir}`, '-ui=false', ...common]
    : ['agent', '-dev', ...common];
}

/** Starts a Consul dev agent and waits until it has a leader and accepts KV writes. */
export async function startConsul(opts: { ports?: ConsulPorts; dataDir?: string; name?: string } = {}): Promise<ConsulAgent> {
  const ports = opts.ports ?? (await consulPorts());
  const url = `http://127.0.0.1:${ports.http}`;
  const proc = await startProcess({
    name: opts.name ?? 'consul',
    command: requireBinary('consul'),
    args: consulArgs(ports, { dataDir: opts.dataDir }),
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
