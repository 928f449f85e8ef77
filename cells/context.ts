/** What the HTTP routes of a cell share: its config, database, log, faults, metrics and hooks. */
import type Database from 'better-sqlite3';
import type { Logger } from '../shared/logger.js';
import type { CellConfig } from './config.js';
import type { FaultRegistry } from './faults/registry.js';
import type { SlowDatabase } from './faults/slow-db.js';
import type { EventLog } from './log/types.js';
import type { CellMetrics } from './metrics.js';
import type { ReconcileReport } from './reconcile/reconcile.js';

/** The consumer group of the delivery service. */
export const DELIVERY_GROUP = 'delivery';

/** Shared state of one cell process. */
export interface CellContext {
  config: CellConfig;
  db: Database.Database;
  log: EventLog;
  /**
   * The log this process's outbox publishes to and the consumer group that reads it: the cell's
   * log and group `delivery`, but a split cell's delivery service publishes to the deliveries topic,
   * read by group `order` (a market summary's events in flight).
   */
  published: { log: EventLog; group: string };
  faults: FaultRegistry;
  /** The `slow-db` fault's lock holder on this cell's database file. */
  slowDb: SlowDatabase;
  metrics: CellMetrics;
  logger: Logger;
  /** Wakes the outbox relay after an order write (when this process runs the background work). */
  notifyOutbox(): void;
  /** True while the process should receive traffic. */
  isReady(): boolean;
  /** True while this process holds the background-work lease. */
  isLeader(): boolean;
  /** Runs reconciliation now (a split cell's order service asks its delivery service: async). */
  reconcileNow(): ReconcileReport | Promise<ReconcileReport>;
  /** What a `crash` fault does (exit by default; tests replace it). */
  onCrash(): void;
}
