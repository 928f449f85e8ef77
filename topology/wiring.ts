/**
 * The map of `cellctl up`: {@link register} lists every child the topology runs, in start
 * order, with its command line and readiness check (in the style of grpc-js-xds's one
 * `register()`). Cell instances of other colors/versions are built with {@link cellSpec}.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireBinary } from '../infra/binaries.js';
import { consulArgs, consulClusterArgs } from '../infra/consul-agent.js';
import { ensureGossipKey, writeGossipConfig } from '../infra/consul-gossip.js';
import type { ChildSpec } from './child.js';
import { cellIds, isSplit, type TopologyConfig } from './config.js';
import { cellPort } from './ports.js';
import { edgePlaceOf, inPlace, placeFields, placeOf } from './hosts/place.js';
import { serverHosts, type Host } from './hosts/plan.js';
import { routerNodeOptions } from '../router/node-options.js';
import { ConsulClient } from '../shared/consul/client.js';
import { tcpConnect } from '../shared/tcp-connect.js';
import { consulAclArgs, consulCa, consulTokenEnv } from './acl.js';
import { probe, schemeOf, tlsArgsOf } from './tls.js';
import { tlsDir, tlsFiles, type TlsFiles } from '../shared/pki/names.js';
import { brokerAddress } from './kafka.js';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));
const node = (args: string[]) => ({ command: process.execPath, args: [CELLCTL, ...args] });

async function ok(url: string, cfg?: TopologyConfig): Promise<boolean> {
  if (cfg?.tls) return (await probe(cfg, url, 1000)).ok;
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await res.arrayBuffer();
  return res.ok;
}

/** Liveness: `url` answers with any status within 2 s (a child that is not ready still lives). */
async function answers(url: string, cfg?: TopologyConfig): Promise<boolean> {
  if (cfg?.tls) {
    await probe(cfg, url, 2000);
    return true;
  }
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return true;
}

/** Consul's HTTP(S) URL (HTTPS under `--tls`): the agent of `hostName` under `--hosts` (default: the first server), else the one agent. */
export function consulUrl(cfg: TopologyConfig, hostName = 'consul-1'): string {
  return `${schemeOf(cfg)}://${placeOf(cfg, hostName).ip}:${cfg.ports.consul.http}`;
}

/**
 * Every Consul agent: the one local agent (dev mode or persistent), or under `--hosts` three
 * servers (one Raft cluster) and a client agent on every other host but the load generator's.
 */
export function consulSpecs(cfg: TopologyConfig): ChildSpec[] {
  if (!cfg.hosts) return [consulSpec(cfg)];
  return cfg.hosts.hosts.filter((h) => h.consul !== 'none').map((h) => consulAgentSpec(cfg, h));
}

/** The child name of host `hostName`'s Consul agent under `--hosts`: `consul.cell-1`. */
export function consulAgentName(hostName: string): string {
  return `consul.${hostName}`;
}

/**
 * The Consul agent of host `h` under `--hosts` (a server or a client agent that joins the three
 * servers), data under `<data>/hosts/<host>/consul`; also that of a host added with its cell.
 */
export function consulAgentSpec(cfg: TopologyConfig, h: Host): ChildSpec {
  const servers = serverHosts(cfg.hosts!).map((x) => x.ip);
  const place = placeOf(cfg, h.name);
  const url = consulUrl(cfg, h.name);
  const dataDir = join(cfg.dataDir, 'hosts', h.name, 'consul');
  // --tls: HTTPS only, and RPC between agents and servers in mutual TLS, with the one Consul
  // certificate, which names every agent's host (topology/hosts/plan.ts leafAddresses).
  const tls = cfg.tls ? tlsFiles(tlsDir(cfg.dataDir), 'consul') : undefined;
  const agent = { node: h.name, ip: h.ip, server: h.consul === 'server', join: servers, dataDir, ports: cfg.ports.consul, tls };
  const args = [...consulClusterArgs(agent), ...consulAclArgs(cfg), ...consulGossipArgs(cfg)];
  const client = new ConsulClient({ url, ca: consulCa(cfg) });
  return {
    name: consulAgentName(h.name),
    kind: 'consul' as const,
    ...inPlace(place, { command: requireBinary('consul'), args }),
    url,
    port: cfg.ports.consul.http,
    ...placeFields(place),
    // A client agent answers /v1/status/leader through a server (an RPC): cut off from the servers
    // (edge-consul-partition) it answers nothing for seconds, yet lives. Its liveness is its HTTP
    // listener accepting (a stopped agent is caught as stopped); a server answers from its own state.
    alive:
      h.consul === 'server'
        ? () => answers(`${url}/v1/status/leader`, cfg)
        : async () => (await tcpConnect(h.ip, cfg.ports.consul.http, 2000)).accepted,
    ready: async () => (await client.status.leader({ timeoutMs: 1000 })) !== '',
  };
}

/**
 * Under `--hosts --tls`, the agents' Serf gossip between hosts encrypted with one key made once
 * per data directory, `<data>/tokens/consul-gossip.key` (infra/consul-gossip.ts): an agent without
 * it cannot join. One host's agent gossips with nobody, so it gets none.
 */
function consulGossipArgs(cfg: TopologyConfig): string[] {
  if (!cfg.tls) return [];
  const tokens = join(cfg.dataDir, 'tokens');
  return writeGossipConfig(join(tokens, 'consul-gossip.hcl'), ensureGossipKey(join(tokens, 'consul-gossip.key')));
}

/**
 * Under `--tls`, where a dev agent is reloaded to take a rotated certificate
 * (topology/consul-reload.ts), the directory of its local state (infra/consul-agent.ts
 * `consulArgs`), emptied at each `cellctl up` by the supervisor: `<data>/consul-dev`.
 */
export function consulDevDir(cfg: TopologyConfig): string | undefined {
  return cfg.tls && !cfg.persist && !cfg.hosts ? join(cfg.dataDir, 'consul-dev') : undefined;
}

/** The Consul agent: dev mode, or a single persistent server under <data>/consul. */
export function consulSpec(cfg: TopologyConfig): ChildSpec {
  const url = consulUrl(cfg);
  // One client for every readiness probe (under --tls, one HTTPS agent, not one per probe).
  const client = new ConsulClient({ url, ca: consulCa(cfg) });
  return {
    name: 'consul',
    kind: 'consul',
    command: requireBinary('consul'),
    args: [
      ...consulArgs(
        cfg.ports.consul,
        cfg.persist ? join(cfg.dataDir, 'consul') : undefined,
        cfg.tls ? tlsFiles(tlsDir(cfg.dataDir), 'consul') : undefined,
        consulDevDir(cfg),
      ),
      ...consulAclArgs(cfg),
    ],
    url,
    port: cfg.ports.consul.http,
    binds: [cfg.ports.consul.http, cfg.ports.consul.serfLan, cfg.ports.consul.serfWan, cfg.ports.consul.server, cfg.ports.consul.grpc],
    alive: () => answers(`${url}/v1/status/leader`, cfg),
    ready: async () => (await client.status.leader({ timeoutMs: 1000 })) !== '',
  };
}

/** The child name of a cell instance: `cell-1.blue`. */
export function cellChildName(cell: string, color: 'blue' | 'green'): string {
  return `${cell}.${color}`;
}

/** One cell instance (`cellctl cell`), on its color's port, sharing the cell's data directory. */
export function cellSpec(cfg: TopologyConfig, cell: string, color: 'blue' | 'green', version: string, defect?: unknown): ChildSpec {
  const index = Number(cell.replace(/^cell-/, ''));
  const port = cfg.ports.added?.[cell]?.[color] ?? cellPort(cfg.ports, index, color);
  const place = placeOf(cfg, cell);
  const url = `${schemeOf(cfg)}://${place.ip}:${port}`;
  const args = ['cell', '--id', cell, '--port', String(port), '--data', join(cfg.dataDir, 'cells', cell), '--consul', consulUrl(cfg, cell)];
  if (place.ns) args.push('--host', place.ip);
  args.push('--version', version, '--color', color, '--prefix', cfg.prefix);
  // The path of the cells' own token, never the token itself (argv is public through ps).
  args.push('--cell-admin-token-file', cfg.tokenFiles['cell-admin']);
  // Imported sagas wait this long on a migration target: long enough for the delta copy, short
  // enough that moved orders go on soon after the flip.
  args.push('--import-hold', '10s');
  // A continuous copy of the cell's database outside its data directory (docs/cells.md §Continuous backup).
  args.push('--backup-dir', join(cfg.dataDir, 'backups', cell));
  // --log kafka: the cell's log on its own broker (topology/kafka.ts); a split cell's child is its
  // order service alone, its delivery service running beside it (topology/delivery.ts).
  const broker = brokerAddress(cfg, cell);
  const split = broker !== undefined && isSplit(cfg, cell);
  if (broker) args.push('--log', 'kafka', '--kafka', broker, ...(split ? ['--role', 'order'] : []));
  if (defect !== undefined) args.push('--defect', JSON.stringify(defect));
  // --tls: HTTPS, /v1 only for a router's or an Envoy's client certificate (docs/security.md §TLS).
  args.push(...tlsArgsOf(cfg, cell));
  return {
    name: cellChildName(cell, color),
    kind: 'cell',
    ...inPlace(place, node(args)),
    ...placeFields(place),
    env: { CELLSIM_LOG_LEVEL: cfg.logLevel, ...consulTokenEnv(cfg, 'cell') },
    url,
    port,
    cell,
    color,
    version,
    canary: cell === 'cell-0',
    defect,
    ...(split ? { role: 'order' as const } : {}),
    ready: () => ok(`${url}/readyz`, cfg),
    alive: () => answers(`${url}/healthz`, cfg),
  };
}

/** Router `i` (router-1, router-2, …). */
export function routerSpec(cfg: TopologyConfig, i: number): ChildSpec {
  const port = cfg.ports.routers[i]!;
  const id = `router-${i + 1}`;
  const place = edgePlaceOf(cfg, i);
  const url = `${schemeOf(cfg)}://${place.ip}:${port}`;
  return {
    name: id,
    kind: 'router',
    ...inPlace(
      place,
      node([
        ...['router', '--port', String(port), '--consul', consulUrl(cfg, place.host), '--id', id, '--prefix', cfg.prefix],
        ...['--hold-ms', String(cfg.holdMs), '--snapshot', join(cfg.dataDir, 'routers', `${id}.snapshot.json`)],
        // The path of the token its route view asks for (the control plane's freeze barrier holds it too).
        ...['--router-admin-token-file', cfg.tokenFiles['router-admin']],
        ...(place.ns ? ['--host', place.ip] : []),
        // --tls: mutual TLS to the cells with the router's certificate, which also serves HTTPS at the edge.
        ...(cfg.tls ? [...tlsArgsOf(cfg, 'router'), '--edge-tls'] : []),
      ]),
    ),
    ...placeFields(place),
    env: { CELLSIM_LOG_LEVEL: cfg.logLevel, NODE_OPTIONS: routerNodeOptions(), ...consulTokenEnv(cfg, 'router') },
    url,
    port,
    ready: () => ok(`${url}/readyz`, cfg),
    alive: () => answers(`${url}/healthz`, cfg),
  };
}

/** The control plane (admin API + xDS); it reaches the supervisor through CELLSIM_SUPERVISOR_URL. */
export function controlPlaneSpec(cfg: TopologyConfig): ChildSpec {
  const place = placeOf(cfg, 'cp');
  // --tls: its HTTP API (admin, console, hold endpoint) in HTTPS (--api-tls).
  const url = `${schemeOf(cfg)}://${place.ip}:${cfg.ports.controlPlane}`;
  const args = [
    'control-plane',
    '--port',
    String(cfg.ports.controlPlane),
    '--xds-port',
    String(cfg.ports.xds),
    '--consul',
    consulUrl(cfg, 'cp'),
  ];
  if (place.ns) args.push('--host', place.ip);
  args.push(
    '--data',
    cfg.dataDir,
    // Paths of its tokens (argv is public through ps): its own API's and those of its calls.
    '--operator-token-file',
    cfg.tokenFiles.operator,
    '--read-token-file',
    cfg.tokenFiles.read,
    '--cell-admin-token-file',
    cfg.tokenFiles['cell-admin'],
    '--supervisor-token-file',
    cfg.tokenFiles.supervisor,
    '--router-admin-token-file',
    cfg.tokenFiles['router-admin'],
    '--prefix',
    cfg.prefix,
    '--id',
    'cp-1',
    '--hold-ms',
    String(cfg.holdMs),
  );
  // --tls: xDS over TLS with its certificate; Envoys' cell clusters in mutual TLS and their edge on
  // HTTPS, with the Envoy certificate and CA served by SDS from <data>/tls/.
  // Its calls to the cells' admin API and its scrapes of cells' and routers' /metrics: HTTPS with its certificate.
  if (cfg.tls) {
    args.push(
      ...tlsArgsOf(cfg, 'control-plane'),
      '--upstream-tls',
      '--edge-tls',
      '--sds-dir',
      join(cfg.dataDir, 'tls'),
      '--peer-tls',
      '--api-tls',
    );
  }
  return {
    name: 'control-plane',
    kind: 'control-plane',
    ...inPlace(place, node(args)),
    env: {
      CELLSIM_LOG_LEVEL: cfg.logLevel,
      CELLSIM_SUPERVISOR_URL: supervisorUrl(cfg),
      ...consulTokenEnv(cfg, 'control-plane'),
    },
    url,
    port: cfg.ports.controlPlane,
    binds: [cfg.ports.controlPlane, cfg.ports.xds],
    ...placeFields(place),
    ready: () => ok(`${url}/readyz`, cfg),
    alive: () => answers(`${url}/healthz`, cfg),
  };
}

/** Envoy `i` (envoy-1, envoy-2, …), configured only by the control plane's xDS. */
export function envoySpec(cfg: TopologyConfig, i: number): ChildSpec {
  const { listen, admin } = cfg.ports.envoys[i]!;
  const id = `envoy-${i + 1}`;
  const place = edgePlaceOf(cfg, i);
  const args = ['envoy', '--listen', String(listen), '--admin', String(admin), '--xds', `${placeOf(cfg, 'cp').ip}:${cfg.ports.xds}`];
  args.push('--id', id, '--data', cfg.dataDir);
  // Under --hosts --tls the admin stays on the namespace's loopback and its readers' paths are
  // served in mutual TLS on the host's address, same port ({@link envoyAdminUrl}); plain --hosts
  // puts the admin on the host's address, so that the supervisor can probe it.
  if (place.ns)
    args.push(
      '--listen-address',
      place.ip,
      ...(adminTls(cfg) ? ['--admin-tls-listen', `${place.ip}:${admin}`] : ['--admin-address', place.ip]),
    );
  // --tls: xDS (and SDS) over TLS with the Envoy certificate.
  if (cfg.tls) args.push(...tlsArgsOf(cfg, 'envoy'), '--xds-tls');
  const ready = envoyAdminUrl(cfg, i, place.ip);
  return {
    name: id,
    kind: 'envoy',
    ...inPlace(place, node(args)),
    env: { CELLSIM_LOG_LEVEL: cfg.logLevel },
    url: `${schemeOf(cfg)}://${place.ip}:${listen}`,
    port: listen,
    binds: [listen, admin],
    ...placeFields(place),
    alive: async () => {
      await adminGet(cfg, `${ready}/ready`, 2000);
      return true;
    },
    ready: async () => {
      const res = await adminGet(cfg, `${ready}/ready`, 1000);
      return res.ok && res.body.trim() === 'LIVE';
    },
  };
}

/**
 * Under `--hosts --tls`: Envoy's admin on loopback, its readers' paths in mutual TLS on the edge
 * host's address (control-plane/xds/admin-tls.ts), as the supervisor, the console on `cp` and
 * `cellctl experiment status` read it from other hosts.
 */
function adminTls(cfg: TopologyConfig): boolean {
  return Boolean(cfg.hosts && cfg.tls);
}

/** Where Envoy `i`'s admin paths are read (topology.json `envoys[].admin`): HTTPS under `--hosts --tls`. */
export function envoyAdminUrl(cfg: TopologyConfig, i: number, ip = edgePlaceOf(cfg, i).ip): string {
  return `${adminTls(cfg) ? 'https' : 'http'}://${ip}:${cfg.ports.envoys[i]!.admin}`;
}

/** A GET of Envoy's admin: in mutual TLS as the supervisor under `--hosts --tls`, else plain. */
async function adminGet(cfg: TopologyConfig, url: string, timeoutMs: number): Promise<{ ok: boolean; body: string }> {
  if (url.startsWith('https:')) return probe(cfg, url, timeoutMs, 'supervisor');
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { ok: res.ok, body: await res.text() };
}

/**
 * The supervisor's control channel, as the control plane reaches it (the bridge's address under
 * `--hosts`); HTTPS under `--hosts --tls` ({@link supervisorTls}).
 */
export function supervisorUrl(cfg: TopologyConfig): string {
  return `${supervisorTls(cfg) ? 'https' : 'http'}://${cfg.hosts?.gateway ?? '127.0.0.1'}:${cfg.ports.supervisor}`;
}

/**
 * Under `--hosts --tls` the files the supervisor's control channel serves HTTPS with (its
 * certificate names the bridge's address), as the channel's token then crosses the bridge; on one
 * host it stays plain HTTP on loopback.
 */
export function supervisorTls(cfg: TopologyConfig): TlsFiles | undefined {
  return cfg.hosts && cfg.tls ? tlsFiles(tlsDir(cfg.dataDir), 'supervisor') : undefined;
}

/** Every child in start order, grouped: each group starts together once the previous is ready. */
export function register(cfg: TopologyConfig, live: Map<string, { color: 'blue' | 'green'; version: string }>): ChildSpec[][] {
  return [
    consulSpecs(cfg),
    cellIds(cfg.cells).map((c) => cellSpec(cfg, c, live.get(c)?.color ?? 'blue', live.get(c)?.version ?? cfg.initialVersion)),
    [controlPlaneSpec(cfg)],
    cfg.ports.routers.map((_, i) => routerSpec(cfg, i)),
    cfg.ports.envoys.map((_, i) => envoySpec(cfg, i)),
  ];
}
