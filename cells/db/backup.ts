/**
 * A continuous copy of the cell's database in another directory (`--backup-dir`), taken with
 * SQLite's online backup API through better-sqlite3 (`db.backup`, page by page, without blocking
 * writers), every `intervalMs`. Each copy is written beside the last and renamed over it, so the
 * directory always holds one complete, consistent copy, and `backup.json` says when it was taken:
 * everything committed before `startedAt` is in it, so the recovery point is at most one interval
 * plus one copy's duration old. docs/cells.md §Continuous backup.
 */
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import type { Db } from './open.js';

/** What `backup.json` records of the last complete copy. */
export interface BackupInfo {
  /** Every transaction committed before this instant is in the copy (the recovery point). */
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  bytes: number;
  /** The configured interval: the recovery point is at most intervalMs + durationMs old while copies succeed. */
  intervalMs: number;
}

/** The copy's file and its record in `dir`. */
export function backupFiles(dir: string): { db: string; info: string } {
  return { db: join(dir, 'cell.sqlite'), info: join(dir, 'backup.json') };
}

/** Copies the database into `dir` every `intervalMs` until stopped. */
export class ContinuousBackup {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<BackupInfo | undefined> | undefined;
  private stopped = false;
  /** The last complete copy. */
  last: BackupInfo | undefined;

  constructor(
    private readonly db: Db,
    private readonly dir: string,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Takes one copy now: a temporary file, then renamed over the previous copy; resolves with its record. */
  async once(): Promise<BackupInfo> {
    mkdirSync(this.dir, { recursive: true });
    const files = backupFiles(this.dir);
    const tmp = `${files.db}.${process.pid}.tmp`;
    const t0 = Date.now();
    try {
      await this.db.backup(tmp);
      renameSync(tmp, files.db);
    } finally {
      rmSync(tmp, { force: true });
    }
    const info: BackupInfo = {
      startedAt: new Date(t0).toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: Date.now() - t0,
      bytes: statSync(files.db).size,
      intervalMs: this.intervalMs,
    };
    writeFileSync(`${files.info}.${process.pid}.tmp`, `${JSON.stringify(info)}\n`);
    renameSync(`${files.info}.${process.pid}.tmp`, files.info);
    this.last = info;
    return info;
  }

  /** Starts the loop: a copy now, then one every interval after the last ended. */
  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.once().catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message, dir: this.dir }, 'database backup failed; the next one retries');
        return undefined;
      });
      void this.running.then(() => {
        if (this.stopped) return;
        this.timer = setTimeout(tick, this.intervalMs);
        this.timer.unref();
      });
    };
    tick();
  }

  /** Stops the loop and waits for a copy in progress (before the database closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
