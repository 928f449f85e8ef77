/**
 * Writes the router's last good table to disk after changes (router/snapshot/): debounced, and
 * leaving 5× the last write's duration (at most 1 s) between writes, so a bulk load of 100,000
 * markets does not rewrite the whole file on every answer while a small table is still written
 * within the debounce. Only a complete table is written (see {@link SnapshotSaverOptions.complete}).
 */
import { writeSnapshot, type SnapshotSource } from '../snapshot/index.js';

/** Options of {@link SnapshotSaver}. */
export interface SnapshotSaverOptions {
  path: string;
  debounceMs: number;
  /**
   * True once markets, cells and endpoints are all held in full. Before that a snapshot would
   * persist a partial table (cells but no markets yet) that a restart would then load as complete
   * and answer 404 unknown_market from.
   */
  complete(): boolean;
  /** The table to write. */
  collect(): Omit<SnapshotSource, 'version' | 'savedAt'>;
  saved(bytes: number, ms: number): void;
  failed(err: Error): void;
  /** The writer (tests pass their own). */
  write?: (path: string, snap: SnapshotSource) => Promise<number>;
}

/** Debounced snapshot writes. */
export class SnapshotSaver {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private dirty = false;
  private lastWriteAt = 0;
  private lastWriteMs = 0;

  constructor(private readonly o: SnapshotSaverOptions) {}

  /** The table changed: write it soon. */
  schedule(): void {
    this.dirty = true;
    if (this.timer || this.writing) return;
    const gap = Math.min(1000, 5 * this.lastWriteMs);
    const wait = Math.max(this.o.debounceMs, this.lastWriteAt + gap - Date.now());
    this.timer = setTimeout(() => void this.save(), wait);
  }

  /** Writes a pending change now (at stop), after a write in progress. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
    if (this.dirty) await this.save();
  }

  private save(): Promise<void> {
    clearTimeout(this.timer); // flush() after a write in progress: the write's own reschedule is replaced by this save
    this.timer = undefined;
    if (!this.dirty || !this.o.complete()) return Promise.resolve(); // still dirty: the answer that completes the table schedules the write
    this.dirty = false;
    const t0 = performance.now();
    const snap: SnapshotSource = { version: 1, savedAt: new Date().toISOString(), ...this.o.collect() };
    this.writing = (this.o.write ?? writeSnapshot)(this.o.path, snap).then(
      (bytes) => {
        this.lastWriteAt = Date.now();
        this.lastWriteMs = performance.now() - t0;
        this.o.saved(bytes, this.lastWriteMs);
      },
      (err: Error) => this.o.failed(err),
    );
    return this.writing.finally(() => {
      this.writing = undefined;
      if (this.dirty) this.schedule();
    });
  }
}
