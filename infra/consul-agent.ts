/**
 * How cellsim runs a real Consul agent on loopback: its ports and its command line. One
 * place for the test harness (`harness/consul.ts`) and the local topology (`topology/wiring.ts`).
 */

/** Every port a Consul agent binds. */
export interface ConsulPorts {
  http: number;
  serfLan: number;
  serfWan: number;
  server: number;
  grpc: number;
}

/**
 * The arguments of a loopback-only Consul agent: dev mode, or a persistent single server.
 * Every process here reaches Consul from 127.0.0.1, and Consul limits HTTP connections per
 * client address (default 200): each router process holds up to 67 blocking queries (64 market
 * shards, cells, endpoints, discovery) and the xDS server up to 98, so the limit is raised. Raft
 * runs at production timing, so a killed Consul is back (a leader again) within seconds.
 */
export function consulArgs(ports: ConsulPorts, dataDir?: string): string[] {
  const common = [
    ...['-bind=127.0.0.1', '-client=127.0.0.1', `-http-port=${ports.http}`, '-dns-port=-1', `-serf-lan-port=${ports.serfLan}`],
    ...[`-serf-wan-port=${ports.serfWan}`, `-server-port=${ports.server}`, `-grpc-port=${ports.grpc}`, '-grpc-tls-port=-1'],
    ...['-node=cellsim', '-log-level=warn', '-log-json', '-hcl=limits { http_max_conns_per_client = 2000 }'],
    // Raft timing at production speed (HashiCorp's recommended multiplier, not the default 5 for
    // tiny cloud instances): a restarted single server elects itself in ~1 s, not ~7 s.
    '-hcl=performance { raft_multiplier = 1 }',
  ];
  return dataDir
    ? ['agent', '-server', '-bootstrap-expect=1', `-data-dir=${dataDir}`, '-ui=false', ...common]
    : ['agent', '-dev', ...common];
}
