/**
 * The drill environment of a `cellctl up` topology: attaches to the one described by
 * `<data>/topology.json` when it answers, or starts `cellctl up --data <data>` itself (and stops
 * it again on close). Faults go through each cell's admin API, kills and restarts through the
 * supervisor's control channel, operator actions through `cellctl` with the same data directory.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../infra/ports.js';
import { startProcess, type ManagedProcess } from '../../infra/process.js';
import { routerNodeOptions } from '../../router/node-options.js';
import { caClient, type PeerClient } from '../../shared/pki/client.js';
import { tlsDir, tlsFiles } from '../../shared/pki/names.js';
import type { Plane, Target } from '../plan.js';
import { clearFaults, injectFault } from './cell-admin.js';
import { ConsulClient } from '../../shared/consul/client.js';
import { CONSUL_CA_FILE_ENV } from '../../shared/consul/tls.js';
import { readCellHealth, readCellVersions, readMigration, readOwners } from './consul-read.js';
import { consulTokenPath, readConsulToken } from '../../shared/consul-acl.js';
import { tokenPath } from '../../shared/tokens.js';
import { supervisorClient } from './supervisor-client.js';
import { readTopologyToken, readTopology, topologyPath, type Topology } from './topology-file.js';
import type { CommandResult, DrillEnv, ExtraRouter } from './types.js';
import { consulReadUrl, hostsInfo } from './hosts-info.js';

const CELLCTL = fileURLToPath(new URL('../../bin/cellctl.js', import.meta.url));

async function answers(url: string, client?: PeerClient): Promise<boolean> {
  try {
    const res = await (client?.fetch ?? fetch)(url, { signal: AbortSignal.timeout(1500) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * The client of a topology that serves HTTPS (`cellctl up --tls`: its routers' URLs are `https:`),
 * trusting its CA `<data>/tls/ca.crt`; undefined for a plain one.
 */
export function topologyClient(t: Topology, dataDir: string): { client: PeerClient; caFile: string } | undefined {
  if (!t.routers.some((r) => r.url.startsWith('https:'))) return undefined;
  const caFile = tlsFiles(tlsDir(dataDir), '').ca;
  if (!existsSync(caFile)) throw new Error(`the topology serves HTTPS but ${caFile} is missing`);
  return { client: caClient(readFileSync(caFile, 'utf8')), caFile };
}

/** True when the topology's Consul and at least one router answer (`client`: its HTTPS client under --tls). */
export async function topologyAlive(t: Topology, client?: PeerClient): Promise<boolean> {
  const router = t.routers[0];
  return (
    (await answers(`${t.consul.url}/v1/status/leader`, client)) && router !== undefined && (await answers(`${router.url}/healthz`, client))
  );
}

/** True while the `cellctl up` that wrote topology.json still runs (its pid lives). */
export function supervisorRuns(t: Topology): boolean {
  const pid = t.supervisor?.pid;
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * True once the topology answers, within `ms` while its supervisor runs: right after a crash
 * drill, a router or Consul may still be restarting, and a second `cellctl up` must never be
 * started over a live one (it would fight it for the data directory and the ports).
 */
async function answersWhileSupervised(t: Topology, ms: number, client?: PeerClient): Promise<boolean> {
  for (const until = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 500))) {
    if (await topologyAlive(t, client)) return true;
    if (!supervisorRuns(t)) return false;
    if (Date.now() > until) {
      throw new Error(
        `the topology in its data directory is supervised (cellctl up, pid ${t.supervisor?.pid}) but its Consul or routers have not answered for ${Math.round(ms / 1000)} s: see cellctl status`,
      );
    }
  }
}

/** The environment for operator commands: no CELLSIM_* option of the drill may leak into them. */
function operatorEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['CELLSIM_LOG_LEVEL', 'CELLSIM_CACHE', 'CELLSIM_TEST_RUN']);
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CELLSIM_') || keep.has(k)));
}

const byNumber = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** Options of {@link openUpEnv}. */
export interface UpEnvOptions {
  dataDir: string;
  /** Extra `cellctl up` arguments when it has to be started (e.g. `--base-port`). */
  upArgs?: string[];
  progress?: (line: string) => void;
  startTimeoutMs?: number;
  /** How long a topology whose supervisor runs may take to answer before the drill gives up (default 30 s). */
  attachWaitMs?: number;
}

/** Attaches to (or starts) the topology of `dataDir`. */
export async function openUpEnv(o: UpEnvOptions): Promise<DrillEnv> {
  let topology = readTopology(o.dataDir);
  let up: ManagedProcess | undefined;
  if (!topology || !(await answersWhileSupervised(topology, o.attachWaitMs ?? 30_000, topologyClient(topology, o.dataDir)?.client))) {
    o.progress?.(`no running topology in ${o.dataDir}: starting cellctl up`);
    try {
      unlinkSync(topologyPath(o.dataDir));
    } catch {
      /* none */
    }
    up = await startProcess({
      name: 'cellctl-up',
      command: process.execPath,
      // A persistent Consul: a dev agent would restart empty after the consul-outage drill.
      args: [CELLCTL, 'up', '--data', o.dataDir, '--persist', ...(o.upArgs ?? [])],
      env: { CELLSIM_LOG_LEVEL: process.env.CELLSIM_LOG_LEVEL ?? 'warn' },
      ready: {
        check: async () => {
          const t = readTopology(o.dataDir);
          return t !== undefined && (await topologyAlive(t, topologyClient(t, o.dataDir)?.client));
        },
      },
      readyTimeoutMs: o.startTimeoutMs ?? 180_000,
    });
    topology = readTopology(o.dataDir);
    if (!topology) throw new Error('cellctl up wrote no topology.json');
  }
  const t = topology;
  // Under --tls: the CA the load generator and the drill's own calls (cells' fault API) trust.
  const tls = topologyClient(t, o.dataDir);
  // Each surface its own token: the supervisor's control channel, the cells' admin API.
  const supervisor = supervisorClient(o.dataDir, t, readTopologyToken(o.dataDir, 'supervisor'), tls?.client.fetch);
  const token = readTopologyToken(o.dataDir, 'cell-admin');
  // Drills read Consul as a router does: the map, the cells, the passing cell instances (over
  // HTTPS under --tls, trusting the topology's CA); migration records as the control plane does.
  const consulCa = tls && consulReadUrl(t).startsWith('https:') ? readFileSync(tls.caFile, 'utf8') : undefined;
  const consulAs = (kind: 'router' | 'control-plane') =>
    new ConsulClient({ url: consulReadUrl(t), token: readConsulToken(o.dataDir, kind), ca: consulCa });
  const routerConsul = consulAs('router');
  const controlPlaneConsul = consulAs('control-plane');
  const cellUrl = (cell: string) => {
    const c = t.cells.find((x) => x.id === cell);
    if (!c) throw new Error(`unknown cell '${cell}' (cells: ${t.cells.map((x) => x.id).join(', ')})`);
    return c.url;
  };
  const cellctl = (args: string[], timeoutMs = 120_000) =>
    new Promise<CommandResult>((resolve) => {
      execFile(
        process.execPath,
        [CELLCTL, ...args],
        { env: { ...operatorEnv(), CELLSIM_DATA: o.dataDir }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  return {
    targets(planes: Plane[]): Target[] {
      const out: Target[] = [];
      if (planes.includes('router')) out.push(...t.routers.map((r) => ({ plane: 'router' as const, replica: r.id, url: r.url })));
      if (planes.includes('envoy')) out.push(...t.envoys.map((e) => ({ plane: 'envoy' as const, replica: e.id, url: e.url })));
      return out;
    },
    cells: () => t.cells.map((c) => c.id).sort(byNumber),
    canaryCell: () => t.cells.find((c) => c.canary)?.id ?? 'cell-0',
    marketWeights: () => (t.markets ? Object.fromEntries(t.markets.map((m) => [m.id, m.weight])) : undefined),
    owners: () => readOwners(routerConsul, t.prefix),
    // The router's token reads no migration record: the control plane's does.
    migration: (market) => readMigration(controlPlaneConsul, market, t.prefix),
    cellVersions: () => readCellVersions(routerConsul),
    cellHealth: () => readCellHealth(routerConsul),
    injectFault: async (cell, fault) => void (await injectFault(cellUrl(cell), token, fault, tls?.client.fetch)),
    clearFaults: async (cell) => void (await clearFaults(cellUrl(cell), token, tls?.client.fetch)),
    caFile: () => tls?.caFile,
    ...(tls ? { fetch: tls.client.fetch } : {}),
    consulPersistent: () => t.consul.persist !== false,
    components: () => ['consul', 'control-plane', ...t.cells.map((c) => c.id), ...t.routers.map((r) => r.id), ...t.envoys.map((e) => e.id)],
    componentUrl(component) {
      if (component === 'consul') return t.consul.url;
      if (component === 'control-plane') return t.controlPlane.url;
      return [...t.routers, ...t.envoys, ...t.cells].find((c) => c.id === component)?.url;
    },
    cellDirs: (cell) =>
      t.cells.some((c) => c.id === cell) ? { data: join(o.dataDir, 'cells', cell), backup: join(o.dataDir, 'backups', cell) } : undefined,
    hosts: () => hostsInfo(t, o.dataDir),
    kafkaBroker(cell) {
      // topology.json's cells[].kafka (written by cellctl up --log kafka; kept by the schema's passthrough).
      const k = (t.cells.find((c) => c.id === cell) as { kafka?: { name?: unknown; bootstrap?: unknown } } | undefined)?.kafka;
      return typeof k?.name === 'string' && typeof k.bootstrap === 'string' ? { component: k.name, bootstrap: k.bootstrap } : undefined;
    },
    partitionHost: (host, cut, from) => supervisor.partitionHost(host, cut, from),
    killAndHold: (component) => supervisor.killAndHold(component),
    restart: (component) => supervisor.restart(component),
    async startExtraRouter(id, args): Promise<ExtraRouter> {
      const port = await freePort();
      // Under --tls as the topology's routers: the router's certificate (mutual TLS to the cells,
      // HTTPS at its edge) and Consul over HTTPS trusting the CA (topology/wiring.ts routerSpec).
      const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
      const f = tlsFiles(tlsDir(o.dataDir), 'router');
      const tlsArgs = tls ? ['--tls-cert', f.cert, '--tls-key', f.key, '--tls-ca', f.ca, '--edge-tls'] : [];
      // The drill's own CELLSIM_* options must not become the router's (every option reads one).
      const unset = Object.fromEntries(
        Object.keys(process.env)
          .filter((k) => !(k in operatorEnv()))
          .map((k) => [k, undefined]),
      );
      const proc = await startProcess({
        name: id,
        command: process.execPath,
        args: [
          CELLCTL,
          'router',
          '--port',
          String(port),
          '--consul',
          t.consul.url,
          '--id',
          id,
          ...(t.prefix ? ['--prefix', t.prefix] : []),
          // Its route view answers the control plane's freeze barrier, as the topology's routers' do.
          ...(existsSync(tokenPath(o.dataDir, 'router-admin')) ? ['--router-admin-token-file', tokenPath(o.dataDir, 'router-admin')] : []),
          ...tlsArgs,
          ...args,
        ],
        env: {
          ...unset,
          CELLSIM_LOG_LEVEL: process.env.CELLSIM_LOG_LEVEL ?? 'warn',
          NODE_OPTIONS: routerNodeOptions(),
          // The topology's router token, by its path (never a token in the environment).
          CELLSIM_CONSUL_TOKEN_FILE: consulTokenPath(o.dataDir, 'router'),
          ...(consulCa && tls ? { [CONSUL_CA_FILE_ENV]: tls.caFile } : {}),
        },
        ready: tls ? { check: () => answers(`${url}/readyz`, tls.client) } : { http: `${url}/readyz` },
        readyTimeoutMs: 60_000,
      });
      return { target: { plane: 'router', replica: id, url }, stop: async () => void (await proc.stop(10_000)) };
    },
    cellctl,
    async close() {
      await tls?.client.close();
      if (up) {
        o.progress?.('stopping the topology this drill started');
        await up.stop(20_000);
      }
    },
  };
}
