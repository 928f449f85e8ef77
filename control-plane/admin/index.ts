/**
 * The operator side of the control plane, as one unit control-plane/main.ts mounts:
 * `const ops = createOperators({...}); app.route('/admin', ops.routes); await ops.start();`.
 * `start` opens the control plane's Consul session (retrying until Consul answers) and then
 * recovers unfinished migrations and rollouts; `close` releases the session.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { ConsulClient } from '../../shared/consul/client.js';
import { KvStore } from '../../shared/consul/kv-store.js';
import { MarketWriter } from '../../shared/markets/writer.js';
import { HttpError } from '../../shared/errors.js';
import { KvLayout } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { NamedToken } from '../../shared/tokens.js';
import { peerClient } from '../../shared/pki/client.js';
import type { TlsFiles } from '../../shared/pki/names.js';
import { watchTls } from '../../shared/pki/reload.js';
import { HttpCellAdmin } from '../migration/cell-client.js';
import { shareJudge } from '../rollout/share-verdict.js';
import { recoverFromBackup } from './recovery.js';
import { Migrator } from '../migration/migrator.js';
import type { MigrationOptions } from '../migration/options.js';
import type { FrozenWant, Plane, PlaneAnswer } from '../migration/freeze-barrier.js';
import { routerPlanes } from '../migration/router-planes.js';
import { RolloutManager } from '../rollout/manager.js';
import type { RolloutOptions } from '../rollout/options.js';
import {
  SupervisorClient,
  type CellLifecycleProcesses,
  type CellProcesses,
  type DeliveryInstances,
  type DeliveryProcesses,
} from '../rollout/supervisor-client.js';
import { deliveryReads } from '../rollout/delivery-reads.js';
import { AuditLog } from './audit.js';
import { Evacuator } from './evacuation.js';
import { CellLifecycle } from './lifecycle.js';
import { DeliveryScaling } from './delivery-scale.js';
import { measureLoad } from '../placement/load.js';
import { adminRoutes } from './routes.js';
import { openSession, type ControlPlaneSession } from './session.js';

/** Options of {@link createOperators}. */
export interface OperatorOptions {
  consulUrl: string;
  /** The process's Consul client (default: one on `consulUrl`). */
  consul?: ConsulClient;
  prefix: string;
  /** The tokens of the admin API (operator, read, named ones); none: every admin call answers 401. */
  adminTokens: NamedToken[];
  /** The token of the cells' admin API (migrations call it); never an operator's. */
  cellAdminToken?: string;
  /** The token of the supervisor's control channel (rollouts call it). */
  supervisorToken?: string;
  /** The token of the routers' route view (`GET /route`, the freeze barrier asks it); never an operator's. */
  routerAdminToken?: string;
  /**
   * Cells serve HTTPS: reach their admin API and metrics, the routers' route view and the
   * supervisor with this certificate (the control plane's), trusting its CA. The files are
   * watched: a rotated certificate is presented on the next connections (docs/tls.md §Rotation without restarts).
   */
  cellTls?: TlsFiles;
  /** The control plane's id (`--id`), naming its Consul session. */
  id: string;
  log: Logger;
  /** The topology data directory (`--data`): where `topology.json` names the supervisor. */
  dataDir?: string;
  /** The `cellctl up` supervisor's control URL (default: CELLSIM_SUPERVISOR_URL, then topology.json). */
  supervisorUrl?: string;
  migration?: Partial<MigrationOptions>;
  rollout?: Partial<RolloutOptions>;
  /** The xDS server of this process: a freeze waits until its Envoys serve the frozen market (and until every router holds it). */
  edge?: EdgeView;
}

/** What the operators read from the xDS server (control-plane/xds). */
export interface EdgeView {
  current():
    | {
        markets: ReadonlyMap<string, { state: string; shareMove?: { percent: number } }>;
        /** Markets whose experiment or share move configuration is warm (their scope uses it). */
        warmExperiments?: ReadonlySet<string>;
      }
    | undefined;
  nodesInSync(): boolean;
  /** The Envoys that may not hold the current routes (behind, or disconnected less than `endedWithinMs` ago), each with why. */
  nodesBehind(endedWithinMs: number): string[];
}

/**
 * How long an Envoy whose xDS stream ended still counts as a plane of a freeze: one cut off keeps
 * routing on its last routes, one killed is gone. 30 s, under the migration's wait for unreachable
 * planes (60 s): a killed Envoy delays a move, it does not roll it back (docs/operators.md §Waiting for the data planes).
 */
export const ENVOY_ENDED_MS = 30_000;

/**
 * The Envoys of this xDS server as one plane of the freeze barrier: confirmed once the edge's input
 * shows `market` frozen and every Envoy connected (or disconnected within {@link ENVOY_ENDED_MS})
 * ACKed the routes built from it; reachable before the freeze when none is behind.
 */
function envoysPlane(edge: EdgeView, market: string): Plane {
  const heard = (): PlaneAnswer => {
    const behind = edge.nodesBehind(ENVOY_ENDED_MS);
    return behind.length === 0 ? { held: true } : { held: false, why: behind.join('; ') };
  };
  return {
    name: 'envoys',
    check: async () =>
      edge.current()?.markets.get(market)?.state === 'frozen' ? heard() : { held: false, why: 'the edge has not seen the market frozen' },
    reach: async () => heard(),
  };
}

/**
 * Resolves once the edge's input gives `market` the share move `percent` (undefined: none), its
 * configuration is warm (the market's scope uses it), and every Envoy ACKed the routes built from it
 * (docs/weighted-shifts.md §Market moves by share).
 */
function shareBarrier(edge: EdgeView): (market: string, percent: number | undefined) => Promise<void> {
  return async (market, percent) => {
    for (let i = 0; i < 2000; i++) {
      const cur = edge.current();
      const rec = cur?.markets.get(market);
      const warm = percent === undefined || (cur?.warmExperiments?.has(market) ?? true);
      if (rec !== undefined && rec.shareMove?.percent === percent && warm && edge.nodesInSync()) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
}

/** The mounted operator unit. */
export interface Operators {
  routes: Hono;
  migrator: Migrator;
  rollouts: RolloutManager;
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Environment knobs, read here only: CELLSIM_CLEANUP_GRACE_MS (migration source purge delay) and
 * CELLSIM_REACH_WAIT_MS (the wait for unreachable data planes before a freeze; docs/operators.md §Waiting for the data planes).
 */
function envMigrationOptions(): Partial<MigrationOptions> {
  const ms = (name: string) => {
    const v = Number(process.env[name]);
    return process.env[name] && Number.isFinite(v) && v >= 0 ? v : undefined;
  };
  const grace = ms('CELLSIM_CLEANUP_GRACE_MS');
  const reach = ms('CELLSIM_REACH_WAIT_MS');
  return { ...(grace !== undefined ? { cleanupGraceMs: grace } : {}), ...(reach !== undefined ? { reachWaitMs: reach } : {}) };
}

/** Finds the supervisor's control URL now (it may appear after the control plane started). */
function supervisorUrl(o: OperatorOptions): string | undefined {
  if (o.supervisorUrl) return o.supervisorUrl;
  if (process.env.CELLSIM_SUPERVISOR_URL) return process.env.CELLSIM_SUPERVISOR_URL;
  if (!o.dataDir) return undefined;
  const file = join(o.dataDir, 'topology.json');
  if (!existsSync(file)) return undefined;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { supervisor?: { url?: string } }).supervisor?.url;
  } catch {
    return undefined;
  }
}

/** Builds the operator unit (routes usable at once; state-changing ones wait for `start`). */
export function createOperators(o: OperatorOptions): Operators {
  const log = o.log.child({ part: 'operators' });
  const consul = o.consul ?? new ConsulClient({ url: o.consulUrl });
  const kv = new KvStore(consul);
  const layout = new KvLayout(o.prefix);
  // One watched handle per client (one poll per files and process); each client closes its own.
  const watched = () => (o.cellTls ? watchTls(o.cellTls, { logger: log }) : undefined);
  const cellPeer = peerClient(watched(), ['cell']);
  const cells = new HttpCellAdmin(consul, o.cellAdminToken ?? '', undefined, cellPeer);
  let session: ControlPlaneSession | undefined;
  const sessionId = () => {
    if (!session)
      throw new HttpError('overloaded', 'the control plane is still connecting to Consul; retry', { headers: { 'retry-after': '1' } });
    return session.id;
  };
  // An https: control channel (cellctl up --hosts --tls) must present the supervisor's certificate of the CA.
  const supervisorPeer = o.cellTls ? peerClient(watched(), ['supervisor']) : undefined;
  const procs = (): (CellProcesses & CellLifecycleProcesses & DeliveryProcesses & DeliveryInstances) | undefined => {
    const url = supervisorUrl(o);
    if (!url) return undefined;
    return url.startsWith('https:') && supervisorPeer
      ? new SupervisorClient(url, o.supervisorToken ?? '', supervisorPeer.fetch)
      : new SupervisorClient(url, o.supervisorToken ?? '');
  };
  // The freeze barrier asks every registered router (with the routers' route-view token; over HTTPS with the
  // control plane's certificate under TLS) and the Envoys.
  const routerPeer = peerClient(watched(), ['router']);
  const edge = o.edge;
  const freezePlanes = async (market: string, want: FrozenWant) => [
    ...(edge ? [envoysPlane(edge, market)] : []),
    ...(await routerPlanes(consul, routerPeer, market, want, o.routerAdminToken ?? '')),
  ];
  const migrator = new Migrator(kv, layout, cells, sessionId, log, o.id, {
    ...envMigrationOptions(),
    freezePlanes,
    reachPlanes: freezePlanes,
    ...(edge ? { shareBarrier: shareBarrier(edge) } : {}),
    shareJudge: shareJudge(cells, log),
    ...o.migration,
  });
  const rollouts = new RolloutManager(kv, layout, procs, cells, sessionId, log, o.rollout, {
    procs,
    reads: deliveryReads(cells),
  });
  const evacuator = new Evacuator(kv, layout, migrator, log, sessionId, o.id);
  const audit = new AuditLog(kv, layout, log);
  const markets = new MarketWriter(consul, layout);
  const lifecycle = new CellLifecycle({
    ...{ kv, layout, consul, migrator, rollouts, evacuator, procs, log },
    ...{ consulUrl: o.consulUrl, prefix: o.prefix, dataDir: o.dataDir },
  });
  const placement = { measure: (windowMs: number) => measureLoad({ kv, layout, cells, log }, windowMs) };
  evacuator.measure = placement.measure;
  const routes = adminRoutes({
    kv,
    markets,
    layout,
    tokens: o.adminTokens,
    migrator,
    rollouts,
    evacuator,
    lifecycle,
    delivery: new DeliveryScaling(procs),
    placement,
    audit,
    recover: (cell: string, dryRun: boolean) => recoverFromBackup({ kv, layout, markets, cells, dataDir: o.dataDir, log }, cell, dryRun),
    log,
  });
  let closed = false;

  return {
    routes,
    migrator,
    rollouts,
    async start() {
      for (let delay = 200; !session && !closed; delay = Math.min(delay * 2, 5000)) {
        try {
          session = await openSession(kv, o.id, log);
        } catch (err) {
          log.warn({ err: (err as Error).message, retryInMs: delay }, 'cannot open a Consul session yet');
          await new Promise((r) => setTimeout(r, delay));
        }
      }
      if (closed) return;
      const migrations = await migrator.recover();
      const evacuations = await evacuator.recover();
      const rolled = await rollouts.recover();
      if (migrations.length || rolled.length || evacuations.length) {
        log.warn(
          { migrations: migrations.map((m) => m.market), evacuations: evacuations.map((e) => e.cell), rollouts: rolled.map((r) => r.id) },
          'recovered unfinished operator work',
        );
      }
    },
    async close() {
      closed = true;
      // Walks stop between steps before the session goes: a write after it would fail forever.
      await migrator.close();
      await session?.close();
      await cells.close();
      await routerPeer.close();
      await supervisorPeer?.close();
    },
  };
}
