/**
 * `evacuate <cell> --from-backup`: a dead cell's markets moved onto healthy cells from the cell's
 * continuous backup (cells/db/backup.ts, `<data>/backups/<cell>` under `cellctl up`). The cell must
 * have no passing instance (a live cell is evacuated by online migration instead). For each market:
 * the backup copy is exported by the cells' own export code (one read transaction on the copy)
 * and streamed into the target cell's import (idempotent upserts: a retried recovery doubles
 * nothing), then the market record is flipped to the target with its epoch raised (CAS on the
 * record read before the copy). The report gives the recovery point: every write committed before
 * `backup.startedAt` survives; orders acknowledged after it are at risk. A split cell's delivery
 * service keeps its own copy (`<data>/backups/<cell>/delivery`): its rows go to a split target's
 * delivery service, and the target's reconciliation repairs what differs between the two copies.
 * See docs/cells.md §Recovery from the backup and docs/kafka.md §Recovering a split cell from its backups.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { backupFiles, type BackupInfo } from '../../cells/db/backup.js';
import { exportStream } from '../../cells/migration/export.js';
import { ROW_TYPES_OF } from '../../cells/migration/rows.js';
import { HttpError, NoCapacityError } from '../../shared/errors.js';
import { CellRecordSchema, MarketRecordSchema, type KvLayout } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import type { MarketWriter } from '../../shared/markets/writer.js';
import type { HttpCellAdmin } from '../migration/cell-client.js';
import { planEvacuation } from './evacuation.js';

/** One market recovered: where it went, what the copy held of it. */
export interface RecoveredMarket {
  market: string;
  to: string;
  rows: number;
  orders: number;
  /** The newest order in the copy (created_at, ms): an order acknowledged after it and after the recovery point may be lost. */
  newestOrderAt?: number;
  /** A split cell: the rows its delivery service's copy gave the target's delivery service, and its deliveries there. */
  delivery?: { rows: number; deliveries: number };
}

/** What `--from-backup` reports. */
export interface RecoveryReport {
  cell: string;
  dryRun: boolean;
  backup: BackupInfo;
  /** Every write committed before this instant is in the copy. */
  recoveryPoint: string;
  /** Seconds of writes that may be lost: from the recovery point to the start of the recovery (an upper bound). */
  rpoSeconds: number;
  markets: RecoveredMarket[];
  durationMs: number;
  /**
   * A split cell: its delivery service's copy, whose own recovery point may differ from the order
   * service's; `recoveryPoint` above is then the older of the two.
   */
  delivery?: { backup: BackupInfo; recoveryPoint: string };
}

/** Dependencies of a recovery. */
export interface RecoveryDeps {
  kv: KvStore;
  layout: KvLayout;
  markets: Pick<MarketWriter, 'put'>;
  cells: Pick<HttpCellAdmin, 'healthy' | 'importInto' | 'split' | 'registered'>;
  /** The root the cells' backups live under (`<dataDir>/backups/<cell>`); undefined: no recovery here. */
  dataDir?: string;
  log: Logger;
}

/** Moves every market of the dead `cell` to healthy cells from its backup copy. */
export async function recoverFromBackup(d: RecoveryDeps, cell: string, dryRun: boolean): Promise<RecoveryReport> {
  const t0 = Date.now();
  if (!d.dataDir) throw new HttpError('conflict', 'this control plane has no --data directory, so no backups to recover from');
  const dir = join(d.dataDir, 'backups', cell);
  const files = backupFiles(dir);
  if (!existsSync(files.info) || !existsSync(files.db)) throw new HttpError('conflict', `cell ${cell} has no backup in ${dir}`);
  if (await d.cells.healthy(cell))
    throw new HttpError('conflict', `cell ${cell} has a passing instance: evacuate it by online migration (without --from-backup)`);
  const backup = JSON.parse(readFileSync(files.info, 'utf8')) as BackupInfo;
  // A split cell: its delivery service's copy beside the order service's; its markets go to split cells only.
  const deliveryDir = join(dir, 'delivery');
  const dFiles = backupFiles(deliveryDir);
  const split = existsSync(dFiles.info) && existsSync(dFiles.db);
  if (!split && (await d.cells.registered(cell, 'delivery')).length > 0)
    throw new HttpError(
      'conflict',
      `cell ${cell} is split into order and delivery services and its delivery service has no backup in ${deliveryDir}`,
    );
  const dBackup = split ? (JSON.parse(readFileSync(dFiles.info, 'utf8')) as BackupInfo) : undefined;
  const records = (await d.kv.listJson(CellRecordSchema, d.layout.cellsPrefix)).values.map((v) => v.value);
  // Targets of the cell's kind (a market moves only between cells of one kind); a cell that does not answer is no target.
  const kindOf = async (id: string): Promise<boolean | undefined> => (id === cell ? split : d.cells.split(id).catch(() => undefined));
  const kinds = await Promise.all(records.map((c) => kindOf(c.id)));
  const cells = records.filter((_, i) => kinds[i] === split);
  const all = (await d.kv.listJson(MarketRecordSchema, d.layout.marketsPrefix)).values;
  const owned = new Map<string, number>();
  for (const m of all) owned.set(m.value.cell, (owned.get(m.value.cell) ?? 0) + 1);
  const mine = all.filter((m) => m.value.cell === cell);
  const names = mine.map((m) => d.layout.marketFromKey(m.key)).filter((m): m is string => m !== undefined);
  let plan: { market: string; to: string }[];
  try {
    // By free market slots: the dead cell's load can no longer be measured.
    plan = planEvacuation(cell, cells, owned, names.sort());
  } catch (err) {
    if (err instanceof NoCapacityError) throw new HttpError('conflict', err.message);
    throw err;
  }
  const counts = countOrders(files.db);
  const deliveries = dBackup ? countDeliveries(dFiles.db) : undefined;
  const out: RecoveredMarket[] = plan.map((p) => ({
    ...p,
    rows: 0,
    ...counts(p.market),
    ...(deliveries ? { delivery: { rows: 0, deliveries: deliveries(p.market) } } : {}),
  }));
  const point = dBackup && dBackup.startedAt < backup.startedAt ? dBackup.startedAt : backup.startedAt;
  const report = (): RecoveryReport => ({
    cell,
    dryRun,
    backup,
    recoveryPoint: point,
    rpoSeconds: Math.max(0, (t0 - Date.parse(point)) / 1000),
    markets: out,
    durationMs: Date.now() - t0,
    ...(dBackup ? { delivery: { backup: dBackup, recoveryPoint: dBackup.startedAt } } : {}),
  });
  if (dryRun) return report();
  for (const r of out) {
    const item = mine.find((m) => d.layout.marketFromKey(m.key) === r.market);
    if (!item) continue;
    // The delivery service's rows first: its imported sagas wait out the import hold, by when the orders are there too.
    if (r.delivery)
      r.delivery.rows = (
        await d.cells.importInto(r.market, r.to, exportStream(deliveryDir, r.market, undefined, ROW_TYPES_OF.delivery), 'delivery')
      ).rows;
    const copied = await d.cells.importInto(r.market, r.to, exportStream(dir, r.market, undefined, split ? ROW_TYPES_OF.order : undefined));
    r.rows = copied.rows;
    const next = { cell: r.to, state: 'active' as const, epoch: item.value.epoch + 1 };
    if (!(await d.markets.put(r.market, next, { cas: item.item.modifyIndex })))
      throw new HttpError('conflict', `market ${r.market} changed during its recovery; run the recovery again (it doubles nothing)`);
    d.log.warn({ cell, market: r.market, to: r.to, rows: r.rows, recoveryPoint: backup.startedAt }, 'market recovered from backup');
  }
  return report();
}

/** Counts each market's deliveries in a delivery service's copy. */
function countDeliveries(file: string): (market: string) => number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT market, count(*) AS n FROM deliveries GROUP BY market').all() as { market: string; n: number }[];
    const by = new Map(rows.map((r) => [r.market, r.n]));
    return (m) => by.get(m) ?? 0;
  } finally {
    db.close();
  }
}

/** Counts each market's orders in the copy, with its newest order's creation time. */
function countOrders(file: string): (market: string) => { orders: number; newestOrderAt?: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT market, count(*) AS n, max(created_at) AS newest FROM orders GROUP BY market').all() as {
      market: string;
      n: number;
      newest: number;
    }[];
    const by = new Map(rows.map((r) => [r.market, { orders: r.n, newestOrderAt: r.newest }]));
    return (m) => by.get(m) ?? { orders: 0 };
  } finally {
    db.close();
  }
}
