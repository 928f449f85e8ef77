/**
 * The host plan of `cellctl up --hosts` (docs/multi-host.md): which hosts a run has, their
 * network names and addresses, and which host each child of the topology runs on. Pure data:
 * the namespaces themselves are made by `netns.ts`, the children by `topology/wiring.ts`.
 */

/** What a host is for. */
export type HostRole = 'consul-server' | 'control-plane' | 'edge' | 'cell' | 'client';

/** One host: a network namespace with one link on the run's bridge. */
export interface Host {
  name: string;
  role: HostRole;
  /** Its address on the bridge. */
  ip: string;
  /** Network namespace name: `<prefix><name>`. */
  ns: string;
  /** The root side of its link (the host side is `eth0` inside the namespace). */
  veth: string;
  /** The Consul agent it runs: a server, a client agent, or none (the load generator's host). */
  consul: 'server' | 'client' | 'none';
}

/** Every host of a run and the network that joins them. */
export interface HostPlan {
  /** The run's id (4 hex digits). */
  run: string;
  /** Every namespace and link of the run starts with this: `cs-<run>-`. */
  prefix: string;
  /** The bridge in the root namespace. */
  bridge: string;
  /** The supervisor's address on the bridge (`10.77.<subnet>.1`): probes and the control channel. */
  gateway: string;
  /** Prefix length of the hosts' addresses. */
  cidr: number;
  hosts: Host[];
}

/** Every name this run creates starts with `cs-`; a run's with `cs-<run>-`. */
export const NAME_PREFIX = 'cs-';

/** Addresses of cell hosts: `.100` on, below the client host's `.250`. */
const CELL_FIRST = 100;
const CELL_LAST = 249;

/** The plan of a run: 3 Consul servers, the control plane's host, `edges` edge hosts, one host per cell, a client host. */
export function hostPlan(run: string, subnet: number, cells: number, edges = 2): HostPlan {
  if (!/^[0-9a-f]{4}$/.test(run)) throw new Error(`run id '${run}' is not 4 hex digits`);
  if (!Number.isInteger(subnet) || subnet < 0 || subnet > 255) throw new Error(`subnet ${subnet} is not 0..255`);
  if (cells > 100) throw new Error('--hosts runs at most 100 cells (one /24)');
  const prefix = `${NAME_PREFIX}${run}-`;
  const hosts: Host[] = [];
  const add = (name: string, role: HostRole, last: number, consul: Host['consul']) =>
    hosts.push({ name, role, ip: `10.77.${subnet}.${last}`, ns: `${prefix}${name}`, veth: `${prefix}${hosts.length}`, consul });
  for (let i = 1; i <= 3; i++) add(`consul-${i}`, 'consul-server', 10 + i, 'server');
  add('cp', 'control-plane', 20, 'client');
  for (let i = 1; i <= edges; i++) add(`edge-${i}`, 'edge', 30 + i, 'client');
  for (let i = 0; i < cells; i++) add(`cell-${i}`, 'cell', CELL_FIRST + i, 'client');
  add('client', 'client', 250, 'none');
  return { run, prefix, bridge: `${prefix}br`, gateway: `10.77.${subnet}.1`, cidr: 24, hosts };
}

/**
 * Adds to `plan` the host of a cell added while the run is up (`cellctl cells add`): role `cell`
 * with a client agent, the lowest free cell address (`.100` on) and the next link number. The
 * plan stays the run's one model of its hosts: the namespace, link, agent and certificates are
 * made from what this returns, and its names keep the run's prefix, by which teardown and
 * `cellctl hosts clean` find them. Returns the host the plan has when it has one already.
 */
export function addCellHost(plan: HostPlan, cell: string): Host {
  const found = plan.hosts.find((h) => h.name === cell);
  if (found?.role === 'cell') return found;
  if (found) throw new Error(`host plan ${plan.run}: '${cell}' names its ${found.role} host, not a cell's`);
  const base = plan.gateway.slice(0, plan.gateway.lastIndexOf('.') + 1);
  const used = new Set(plan.hosts.map((h) => h.ip));
  let last = CELL_FIRST;
  while (last <= CELL_LAST && used.has(`${base}${last}`)) last++;
  if (last > CELL_LAST) throw new Error(`host plan ${plan.run} has no free cell address (.${CELL_FIRST}-.${CELL_LAST})`);
  const links = plan.hosts.map((h) => Number(h.veth.slice(plan.prefix.length))).filter(Number.isInteger);
  const h: Host = {
    name: cell,
    role: 'cell',
    ip: `${base}${last}`,
    ns: `${plan.prefix}${cell}`,
    veth: `${plan.prefix}${Math.max(-1, ...links) + 1}`,
    consul: 'client',
  };
  // Before the client host, so the plan keeps its order: servers, cp, edges, cells, client.
  const at = plan.hosts.findIndex((x) => x.role === 'client');
  plan.hosts.splice(at < 0 ? plan.hosts.length : at, 0, h);
  return h;
}

/** Removes cell host `name` from `plan` (`cellctl cells retire`); answers it, or undefined when the plan has none. */
export function dropCellHost(plan: HostPlan, name: string): Host | undefined {
  const i = plan.hosts.findIndex((h) => h.name === name && h.role === 'cell');
  return i < 0 ? undefined : plan.hosts.splice(i, 1)[0];
}

/** The host named `name`; throws when the plan has none. */
export function host(plan: HostPlan, name: string): Host {
  const h = plan.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`host plan ${plan.run} has no host '${name}'`);
  return h;
}

/** The address of host `name`. */
export function hostIp(plan: HostPlan, name: string): string {
  return host(plan, name).ip;
}

/** The Consul servers' hosts. */
export function serverHosts(plan: HostPlan): Host[] {
  return plan.hosts.filter((h) => h.consul === 'server');
}

/** The host a cell runs on. */
export function cellHost(plan: HostPlan, cell: string): Host {
  return host(plan, cell);
}

/** The edge host of router/Envoy `i` (0-based): edge-1, edge-2, … round robin. */
export function edgeHost(plan: HostPlan, i: number): Host {
  const edges = plan.hosts.filter((h) => h.role === 'edge');
  return edges[i % edges.length]!;
}

/**
 * The host addresses each certificate of `cellctl up --tls` must name under `--hosts`, by leaf
 * name (shared/pki/store.ts `topologyLeaves`): the one router and one Envoy certificate every
 * edge host's address, the control plane's its host's, the one Consul certificate every host
 * that runs an agent (servers and client agents), each cell's its own host's, and the
 * supervisor's the bridge's (its control channel listens there). A client that
 * dials a component's address then finds that address in its certificate.
 */
export function leafAddresses(plan: HostPlan): Record<string, string[]> {
  const ips = (role: HostRole) => plan.hosts.filter((h) => h.role === role).map((h) => h.ip);
  return {
    router: ips('edge'),
    envoy: ips('edge'),
    'control-plane': ips('control-plane'),
    consul: plan.hosts.filter((h) => h.consul !== 'none').map((h) => h.ip),
    // The supervisor stays in the root namespace; the hosts reach its control channel at the bridge's address.
    supervisor: [plan.gateway],
    ...Object.fromEntries(plan.hosts.filter((h) => h.role === 'cell').map((h) => [h.name, [h.ip]])),
  };
}
