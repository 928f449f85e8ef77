/**
 * `cellctl status`: cells (state, flags, version, color, health, markets), routers, xDS, running
 * work, the cells whose last reconciliation found mismatches, and — when `cellctl up` supervises
 * the topology — every process with the pid that listens.
 */
import Table from 'cli-table3';
import { Command } from 'commander';
import { peerClient, type PeerClient } from '../../shared/pki/client.js';
import type { MigrationRecord, RolloutRecord } from '../../shared/kv.js';
import type { CellView, InstanceView } from '../admin/views.js';
import { SupervisorClient, type ChildStatus } from '../rollout/supervisor-client.js';
import { connect, printJson, run, supervisorOf, topologyCaClient, withConnection, type ConnFlags } from './common.js';
import { alertsLine, reconcileAlerts, type ReconcileAlert } from '../admin/reconcile-alerts.js';

interface Status {
  cells: CellView[];
  markets: { total: number; frozen: number };
  routers: InstanceView[];
  xds: InstanceView[];
  migrations: MigrationRecord[];
  rollout: RolloutRecord | null;
}

/** A supervised process as status shows it. */
type Process = ChildStatus & { wrapperPid?: number | null; problem?: string; host?: string; url?: string; role?: 'order' | 'delivery' };

/** The supervisor's processes, or null when the topology has no supervisor or it does not answer. */
async function processes(f: ConnFlags): Promise<Process[] | null> {
  const sup = supervisorOf(f);
  if (!sup) return null;
  // An https: control channel (cellctl up --hosts --tls) is reached trusting only the topology's CA.
  const get = sup.url.startsWith('https:') ? topologyCaClient(f.data).fetch : undefined;
  return new SupervisorClient(sup.url, sup.token, get).children().then(
    (list) => list as Process[],
    () => null,
  );
}

/**
 * The processes table: name, state, the pid that listens, its watchdog, restarts, the last problem;
 * and the host each runs on under `cellctl up --hosts` (docs/multi-host.md).
 */
export function processTable(list: Process[]): string {
  const hosts = list.some((p) => p.host !== undefined);
  const t = new Table({ head: ['process', ...(hosts ? ['host'] : []), 'state', 'pid', 'wrapper', 'restarts', 'problem'] });
  for (const p of list) {
    const row = [p.name, p.state, String(p.pid ?? '-'), String(p.wrapperPid ?? '-'), String(p.restarts), p.problem ?? ''];
    if (hosts) row.splice(1, 0, p.host ?? '-');
    t.push(row);
  }
  return t.toString();
}

/** Each cell's Kafka broker under `cellctl up --log kafka` (children `kafka.<cell>`), or null when none runs. */
export function brokersLine(list: Process[]): string | null {
  const brokers = list.filter((p) => p.kind === 'kafka');
  if (!brokers.length) return null;
  return `kafka brokers: ${brokers.map((b) => `${b.name.replace(/^kafka\./, '')} ${b.url ?? '?'} ${b.state} (pid ${b.pid ?? '-'})`).join(', ')}`;
}

/**
 * Each split cell's processes by role under `cellctl up --log kafka` (its order service, the
 * `cell` child with role `order`, and its delivery instances), or null when no cell is split.
 */
export function rolesLine(list: Process[]): string | null {
  const split = list.filter((p) => p.role !== undefined && p.cell !== undefined);
  if (!split.length) return null;
  const cells = [...new Set(split.map((p) => p.cell!))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const one = (p: Process) => `${p.name} ${p.state} (pid ${p.pid ?? '-'})`;
  const cell = (c: string) =>
    (['order', 'delivery'] as const)
      .map(
        (role) =>
          `${role}: ${
            split
              .filter((p) => p.cell === c && p.role === role)
              .map(one)
              .join(', ') || 'none'
          }`,
      )
      .join('; ');
  return `cell services: ${cells.map((c) => `${c} [${cell(c)}]`).join(', ')}`;
}

/**
 * The cells' reconciliation alerts (control-plane/admin/reconcile-alerts.ts), scraped over
 * HTTPS trusting the topology's CA when the control plane speaks HTTPS (`cellctl up --tls`).
 */
async function alertsOf(f: ConnFlags, apiUrl: string, cells: Status['cells']): Promise<ReconcileAlert[]> {
  const https = apiUrl.startsWith('https:');
  let client: PeerClient;
  try {
    client = https ? topologyCaClient(f.data) : peerClient(undefined, []);
  } catch {
    return []; // the topology's CA is not under --data (a --control-plane elsewhere): no alerts read
  }
  try {
    return await reconcileAlerts(cells, (url) => client.text(url, 1000), https ? 'https' : 'http');
  } finally {
    await client.close();
  }
}

/** The cells table (shared with `cellctl cells`). */
export function cellsTable(cells: CellView[]): string {
  const t = new Table({ head: ['cell', 'state', 'flags', 'version', 'color', 'health', 'markets', 'instances'] });
  for (const c of cells) {
    const flags = [c.canary ? 'canary' : '', c.global ? 'global' : ''].filter(Boolean).join(',') || '-';
    const inst = c.instances.map((i) => `${i.meta.color ?? '?'} ${i.meta.version ?? '?'} :${i.port} ${i.status}`).join('\n') || 'none';
    t.push([c.id, c.state, flags, c.version, c.activeColor, c.health, `${c.markets}/${c.capacity}`, inst]);
  }
  return t.toString();
}

/** The command module. */
export function command(): Command {
  return withConnection(
    new Command('status').description('what runs where: cells with health and versions, routers, xDS, running migrations and rollout'),
  ).action(
    run('status', async (f: ConnFlags) => {
      const api = connect(f);
      const [s, procs] = await Promise.all([api.get<Status>('/status'), processes(f)]);
      const alerts = await alertsOf(f, api.url, s.cells);
      if (f.json) return printJson({ ...s, reconcileAlerts: alerts, processes: procs });
      const out: string[] = [cellsTable(s.cells)];
      const plane = (name: string, list: InstanceView[]) =>
        `${name}: ${list.length ? list.map((i) => `${i.meta.id ?? i.id} :${i.port} ${i.status}`).join(', ') : 'none registered'}`;
      out.push(plane('routers', s.routers), plane('xds', s.xds), `markets: ${s.markets.total} (${s.markets.frozen} frozen)`);
      out.push(
        `migrations running: ${s.migrations.length ? s.migrations.map((m) => `${m.market} ${m.from}→${m.to} ${m.state}`).join(', ') : 'none'}`,
      );
      const r = s.rollout;
      out.push(`rollout: ${r ? `${r.id} ${r.version} ${r.state}${r.report ? ` (${r.report})` : ''}` : 'none yet'}`);
      const alert = alertsLine(alerts);
      if (alert) out.push(alert);
      const brokers = procs && brokersLine(procs);
      if (brokers) out.push(brokers);
      const roles = procs && rolesLine(procs);
      if (roles) out.push(roles);
      if (procs) out.push(processTable(procs));
      process.stdout.write(`${out.join('\n')}\n`);
    }),
  );
}
