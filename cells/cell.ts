/**
 * One cell, wired: database, log, faults, metrics, the delivery dependency and its guard,
 * relay, consumer, saga, reconciler, background lease and the HTTP app. The map of a cell;
 * `server.ts` adds the socket, Consul and signals. A cell's order or delivery service alone
 * (`config.role`, on Kafka) gets its parts from `roles.ts`.
 */
import { hostname } from 'node:os';
import type { Hono } from 'hono';
import { createLogger, type Logger } from '../shared/logger.js';
import { createApp } from './app.js';
import type { PeerFetch } from './share-reads.js';
import { Background } from './background.js';
import type { CellConfig } from './config.js';
import type { EventLog } from './log/types.js';
import { KeyOrderedConsumer } from './consumer/consumer.js';
import { DELIVERY_GROUP, type CellContext } from './context.js';
import { ContinuousBackup } from './db/backup.js';
import { dbFile, openDb, type Db } from './db/open.js';
import { DependencyGuard } from './delivery/breaker.js';
import { CourierService } from './delivery/courier.js';
import { deliveryHandler } from './saga/handler.js';
import { FaultRegistry } from './faults/registry.js';
import { SlowDatabase } from './faults/slow-db.js';
import { InFlight } from './http/observe.js';
import { SqliteLog } from './log/sqlite-log.js';
import { PollLoop } from './loop.js';
import { CellMetrics } from './metrics.js';
import { relayOnce } from './outbox/relay.js';
import { raiseAlert } from './reconcile/alert.js';
import { reconcile } from './reconcile/reconcile.js';
import { SagaOrchestrator } from './saga/orchestrator.js';
import { ORDER_GROUP, deliveryRole, orderRole, type RoleLogs, type RoleParts } from './roles.js';
import { HttpError } from '../shared/errors.js';

/** A wired cell (not yet listening). */
export interface Cell {
  config: CellConfig;
  app: Hono;
  ctx: CellContext;
  db: Db;
  inflight: InFlight;
  background: Background;
  /** The delivery service's consumer-group member (`role: 'delivery'`), started by {@link Cell.start}. */
  member?: RoleParts['member'];
  /** Starts competing for the background lease, and joins the consumer group (delivery service). */
  start(): Promise<void>;
  /** Marks the cell ready (after listening) or not (shutting down). */
  setReady(ready: boolean): void;
  /** Stops the slow-db lock holder and background work (lease released), then closes the database. */
  close(): Promise<void>;
}

/**
 * Builds a cell from its config; `start` begins competing for the background lease. `opts.log`
 * is an event log opened by the caller (a Kafka one: cells/server.ts), else the cell's SQLite log;
 * `opts.logs` are the two topics of a split role (cells/roles.ts).
 */
export function createCell(
  config: CellConfig,
  opts: {
    logger?: Logger;
    onCrash?: () => void;
    log?: EventLog;
    logs?: RoleLogs;
    /** How the cell reaches a share peer's admin API (cells/share-reads.ts); the network by default, a peer's app in tests. */
    peerFetch?: PeerFetch;
  } = {},
): Cell {
  const logger = opts.logger ?? createLogger('cell', { cell: config.id, color: config.color, version: config.version, role: config.role });
  const db = openDb(config.dataDir);
  const log: EventLog = opts.logs?.orders ?? opts.log ?? new SqliteLog(db, config.partitions);
  const faults = new FaultRegistry(config.defect);
  const slowDb = new SlowDatabase(dbFile(config.dataDir), logger);
  faults.onChange(() => slowDb.set(faults.lockBurst()));
  const metrics = new CellMetrics(config.id);
  metrics.bindStorage(db, log, DELIVERY_GROUP);
  const split = config.role === 'all' ? undefined : opts.logs;
  if (config.role !== 'all' && !split) throw new Error(`role ${config.role} needs its Kafka topics`);
  const role = split && (config.role === 'order' ? orderRole : deliveryRole)({ config, db, logs: split, faults, metrics, logger });
  const guard = new DependencyGuard({
    name: 'delivery',
    onStateChange: (open) => metrics.breakerState.set({ dependency: 'delivery' }, open ? 1 : 0),
  });
  const courier = new CourierService(faults, config.assignDelayMs);
  const orchestrator = new SagaOrchestrator({
    db,
    courier,
    guard,
    metrics,
    logger,
    pickupAfterMs: config.pickupAfterMs,
    deliverAfterMs: config.deliverAfterMs,
  });
  const sagaLoop = new PollLoop('saga', () => orchestrator.tick(), config.pollMs, logger);
  const consumer = new KeyOrderedConsumer({
    log,
    group: DELIVERY_GROUP,
    workers: config.workers,
    handler: deliveryHandler({ db, metrics, assignDeadlineMs: config.assignDeadlineMs }),
    // The relay wakes the consumer after each move, so its idle poll (one query per partition) can be slower.
    pollMs: config.pollMs * 5,
    logger,
    onProcessed: () => sagaLoop.wake(),
  });
  const relay = new PollLoop(
    'relay',
    async () => {
      const n = await relayOnce(db, log);
      if (n > 0) {
        metrics.relayed.inc(n);
        consumer.wake();
      }
      return n;
    },
    config.pollMs,
    logger,
  );
  const runReconcile = () => {
    const report = reconcile(db, { staleMs: config.reconcileStaleMs, assignDeadlineMs: config.assignDeadlineMs });
    // The alert: the gauge stays above 0 until a run finds nothing (docs/cells.md §Reconciliation).
    if (raiseAlert(report, metrics, logger) > 0) relay.wake();
    return report;
  };
  const reconcileLoop = new PollLoop(
    'reconcile',
    async () => {
      runReconcile();
      // Kafka keeps records by the topic's retention; the SQLite log trims what every group consumed.
      if (log instanceof SqliteLog) log.trim([DELIVERY_GROUP]);
      return 0;
    },
    config.reconcileIntervalMs,
    logger,
  );
  const holder = `${hostname()}:${process.pid}:${config.color}:${config.port}:${Math.random().toString(36).slice(2, 8)}`;
  const background = new Background(
    db,
    role?.parts ?? { relay, consumer, saga: sagaLoop, orchestrator, reconcile: reconcileLoop },
    holder,
    config.leaseTtlMs,
    logger,
  );
  let ready = false;
  const ctx: CellContext = {
    config,
    db,
    log,
    published: config.role === 'delivery' && split ? { log: split.deliveries, group: ORDER_GROUP } : { log, group: DELIVERY_GROUP },
    faults,
    slowDb,
    metrics,
    logger,
    notifyOutbox: () => (role?.parts.relay ?? relay).wake(),
    isReady: () => ready,
    isLeader: () => background.isLeader,
    reconcileNow: role
      ? (role.reconcileNow ??
        (() => {
          throw new HttpError('conflict', "a delivery service does not reconcile: its cell's order service does (docs/kafka.md)");
        }))
      : runReconcile,
    onCrash: opts.onCrash ?? (() => process.exit(70)),
  };
  const inflight = new InFlight();
  const app = createApp(ctx, inflight, opts.peerFetch);
  const backup = config.backupDir ? new ContinuousBackup(db, config.backupDir, config.backupIntervalMs, logger) : undefined;
  backup?.start();
  return {
    config,
    app,
    ctx,
    db,
    inflight,
    background,
    member: role?.member,
    async start() {
      background.start();
      await role?.member?.start();
    },
    setReady: (r) => void (ready = r),
    async close() {
      ready = false;
      await slowDb.close();
      await role?.member?.stop();
      await background.stop();
      await role?.close?.();
      await backup?.stop();
      await log.close?.();
      await split?.deliveries.close();
      db.close();
    },
  };
}
