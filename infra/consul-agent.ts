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

/** PEM files of Consul's HTTPS API: its certificate and key, and the CA. */
export interface ConsulTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/**
 * The HTTP API moved to HTTPS: the port serves TLS with `tls`'s certificate and no plain HTTP
 * listener is left. Clients are not asked for a certificate (`verify_incoming` off): they prove
 * who they are with their ACL token, as on plain HTTP. The files are read at start and again at
 * each reload of the agent's configuration (`PUT /v1/agent/reload`, or SIGHUP): `cellctl up`
 * reloads its agents when the files change (topology/consul-reload.ts). `auto_reload_config` is
 * not used: it reloads everything, and a reload of a dev agent without a data directory forgets
 * the services registered through its API (docs/tls.md §Rotation without restarts).
 */
function httpsArgs(port: number, tls: ConsulTlsFiles, more = ''): string[] {
  const q = (s: string) => JSON.stringify(s);
  return [
    `-hcl=ports { http = -1 https = ${port} }`,
    `-hcl=tls { defaults { ca_file = ${q(tls.ca)} cert_file = ${q(tls.cert)} key_file = ${q(tls.key)} verify_incoming = false }${more} }`,
  ];
}

/**
 * The arguments of a loopback-only Consul agent: dev mode, or a persistent single server; with
 * `tls`, its HTTP API on the same port in HTTPS only. A dev agent with `devStateDir` keeps its
 * local state there (its services and checks registered through the API; the KV store and the
 * catalog stay in memory), so a reload of its configuration keeps them: without a data directory
 * Consul 1.16 drops them at a reload and cells vanish until they register again.
 * Every process here reaches Consul from 127.0.0.1, and Consul limits HTTP connections per
 * client address (default 200): each router process holds up to 67 blocking queries (64 market
 * shards, cells, endpoints, discovery) and the xDS server up to 98, so the limit is raised. Raft
 * runs at production timing, so a killed Consul is back (a leader again) within seconds.
 */
export function consulArgs(ports: ConsulPorts, dataDir?: string, tls?: ConsulTlsFiles, devStateDir?: string): string[] {
  const api = tls ? httpsArgs(ports.http, tls) : [`-http-port=${ports.http}`];
  const common = [
    ...['-bind=127.0.0.1', '-client=127.0.0.1', ...api, '-dns-port=-1', `-serf-lan-port=${ports.serfLan}`],
    ...[`-serf-wan-port=${ports.serfWan}`, `-server-port=${ports.server}`, `-grpc-port=${ports.grpc}`, '-grpc-tls-port=-1'],
    ...['-node=cellsim', '-log-level=warn', '-log-json', '-hcl=limits { http_max_conns_per_client = 2000 }'],
    // Raft timing at production speed (HashiCorp's recommended multiplier, not the default 5 for
    // tiny cloud instances): a restarted single server elects itself in ~1 s, not ~7 s.
    '-hcl=performance { raft_multiplier = 1 }',
  ];
  return dataDir
    ? ['agent', '-server', '-bootstrap-expect=1', `-data-dir=${dataDir}`, '-ui=false', ...common]
    : ['agent', '-dev', ...(devStateDir ? [`-data-dir=${devStateDir}`] : []), ...common];
}

/** One agent of a Consul cluster spread over hosts (`cellctl up --hosts`, docs/multi-host.md). */
export interface ClusterAgent {
  /** Consul node name (the host's name). */
  node: string;
  /** The host's own address: Serf, RPC and HTTP bind here (HTTP on loopback too). */
  ip: string;
  /** A server (one of `join`) or a client agent. */
  server: boolean;
  /** The servers' addresses, joined with retry until they answer. */
  join: readonly string[];
  dataDir: string;
  ports: ConsulPorts;
  /**
   * HTTPS only on the HTTP port, as {@link consulArgs}, and the agents' RPC to the servers (Raft
   * included) in mutual TLS with the same certificate, checked as `server.dc1.consul`.
   */
  tls?: ConsulTlsFiles;
}

/**
 * The `tls` stanza's part for server RPC (port `server`: client agents' requests, Raft between servers) in TLS both ways:
 * each agent presents its certificate and accepts only a server whose certificate chains to the
 * CA and names `server.<datacenter>.consul`; a server refuses an agent without one. Serf gossip
 * is not TLS in Consul but its own symmetric encryption (`consul-gossip.ts`, loaded by `cellctl up --hosts --tls`).
 */
const RPC_TLS = ' internal_rpc { verify_incoming = true verify_outgoing = true verify_server_hostname = true }';

/**
 * The arguments of one agent of a real Consul cluster: servers wait for all of `join` to
 * bootstrap one Raft cluster; clients join the servers and serve the services of their host.
 * Raft at production timing (multiplier 1), as above, so a lost leader is replaced in seconds.
 * With `tls`, HTTPS only and server RPC in mutual TLS.
 */
export function consulClusterArgs(a: ClusterAgent): string[] {
  return [
    'agent',
    ...(a.server ? ['-server', `-bootstrap-expect=${a.join.length}`, '-ui=false'] : []),
    ...a.join.filter((ip) => ip !== a.ip).map((ip) => `-retry-join=${ip}:${a.ports.serfLan}`),
    ...[`-bind=${a.ip}`, `-advertise=${a.ip}`, `-client=127.0.0.1 ${a.ip}`, `-data-dir=${a.dataDir}`, `-node=${a.node}`],
    ...(a.tls ? httpsArgs(a.ports.http, a.tls, RPC_TLS) : [`-http-port=${a.ports.http}`]),
    ...['-dns-port=-1', `-serf-lan-port=${a.ports.serfLan}`, `-serf-wan-port=${a.ports.serfWan}`],
    ...[`-server-port=${a.ports.server}`, `-grpc-port=${a.ports.grpc}`, '-grpc-tls-port=-1', '-retry-interval=1s'],
    ...['-log-level=warn', '-log-json', '-hcl=limits { http_max_conns_per_client = 2000 }', '-hcl=performance { raft_multiplier = 1 }'],
  ];
}
