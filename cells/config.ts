/** The cell's configuration: every knob with its default, in one place. */
import type { Defect } from '../shared/defect.js';
import { CellIdSchema } from '../shared/kv.js';
import type { TlsFiles } from '../shared/pki/names.js';

/** Everything a cell process needs. */
export interface CellConfig {
  id: string;
  port: number;
  host: string;
  dataDir: string;
  /** Consul HTTP URL; undefined = do not register. */
  consul?: string;
  version: string;
  color: 'blue' | 'green';
  /** The bearer token of `/admin/*` (the cell-admin token); without one every admin call is refused. */
  adminToken?: string;
  partitions: number;
  /** The event log's backend (docs/kafka.md): the cell's SQLite database (default) or a Kafka cluster. */
  log: 'sqlite' | 'kafka';
  /** Kafka bootstrap brokers (`host:port`), with `log: 'kafka'`. */
  kafka?: string[];
  /** A split cell's order service: the base URLs of its delivery service's instances, read by reconciliation (cells/reconcile/delivery-client.ts). */
  deliveryUrls?: string[];
  /** What this process runs: the whole cell (`all`), or its order or delivery service alone (with `log: 'kafka'`; cells/roles.ts). */
  role: 'all' | 'order' | 'delivery';
  workers: number;
  defect?: Defect;
  prefix: string;
  /** Simulated courier assignment time. */
  assignDelayMs: number;
  /** CONFIRMED → DELIVERING after this long. */
  pickupAfterMs: number;
  /** DELIVERING → DELIVERED after this long. */
  deliverAfterMs: number;
  /** How long the saga keeps retrying an unavailable delivery dependency before compensating. */
  assignDeadlineMs: number;
  leaseTtlMs: number;
  reconcileIntervalMs: number;
  /** A PENDING order without a delivery is repaired only after this age. */
  reconcileStaleMs: number;
  shutdownTimeoutMs: number;
  /** On shutdown, keep serving this long after deregistering, so routers stop choosing this process first. */
  drainDelayMs: number;
  pollMs: number;
  /** After an import, imported sagas and reconciliation of the market wait this long (the delta copy comes meanwhile). */
  importHoldMs: number;
  /** Keep a continuous copy of the database in this directory (cells/db/backup.ts); undefined = none. */
  backupDir?: string;
  /** A copy every this long (the recovery point is at most this plus one copy's duration old). */
  backupIntervalMs: number;
  /** Serve HTTPS with these files and require a router's or an Envoy's client certificate on /v1 (cells/http/peer.ts); undefined = plain HTTP. */
  tls?: TlsFiles;
}

/** Defaults for every optional knob. */
export const DEFAULTS = {
  host: '127.0.0.1',
  version: 'v1',
  color: 'blue',
  partitions: 8,
  log: 'sqlite',
  role: 'all',
  workers: 16,
  prefix: 'cellsim/',
  assignDelayMs: 20,
  pickupAfterMs: 2000,
  deliverAfterMs: 3000,
  assignDeadlineMs: 120_000,
  leaseTtlMs: 3000,
  reconcileIntervalMs: 15_000,
  reconcileStaleMs: 10_000,
  shutdownTimeoutMs: 10_000,
  drainDelayMs: 1000,
  pollMs: 10,
  importHoldMs: 30_000,
  backupIntervalMs: 2000,
} as const;

/** A config from the required fields and any overrides (an `undefined` override keeps the default). */
export function makeConfig(req: { id: string; port: number; dataDir: string } & Partial<CellConfig>): CellConfig {
  CellIdSchema.parse(req.id);
  const given = Object.fromEntries(Object.entries(req).filter(([, v]) => v !== undefined)) as typeof req;
  const config: CellConfig = { ...DEFAULTS, ...given };
  return config;
}
