/**
 * The `slow-db` fault as a slow database, not a slow request: a worker thread with its own
 * connection to the cell's database file holds the write lock in bursts (BEGIN IMMEDIATE, hold,
 * COMMIT with nothing written, a short gap, again), as a stuck batch job or a long transaction
 * of another process would. Every writer of the file — this process's requests, relay, consumer
 * and saga, and the other color's process — waits on its busy_timeout for the burst to end.
 * better-sqlite3 is synchronous, so a waiting writer blocks the cell's event loop, reads and
 * /healthz included, as a slow disk blocks a Node process. Readers alone never wait (WAL).
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../shared/logger.js';

/** How the write lock is held: bursts of `holdMs` + uniform [0, `jitterMs`]. */
export interface LockBurst {
  holdMs: number;
  jitterMs: number;
}

/** Slots of the control block shared with slow-db-worker.mjs (which mirrors these numbers). */
const CTL = { signal: 0, stop: 1, hold: 2, jitter: 3, gap: 4, bursts: 5 } as const;
const CTL_SLOTS = 6;

/**
 * The sleeps of SQLite's default busy handler, ms: a writer waiting on busy_timeout tries again
 * after 1, 2, 5, … then every 100 ms (`sqliteDefaultBusyCallback`,
 * https://github.com/sqlite/sqlite/blob/master/src/main.c; better-sqlite3 builds with HAVE_USLEEP).
 */
const BUSY_SLEEPS = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];

/** How long after its last try a writer that has waited `waitedMs` tries again. */
export function busyRetryMs(waitedMs: number): number {
  let total = 0;
  for (const d of BUSY_SLEEPS) {
    if (total + d > waitedMs) return d;
    total += d;
  }
  return BUSY_SLEEPS[BUSY_SLEEPS.length - 1]!;
}

/**
 * The free gap after a burst: as long as the burst, so the cell's event loop keeps half of its
 * time (bursts held three quarters of the time starved a cell at 100 requests/s: its queue grew
 * without bound), and never shorter than the busy handler's retry interval after a wait that long
 * (+ 5 ms for the writer's own transaction), so every writer that waited through a burst gets in
 * before the next one and none waits two.
 */
export function gapMs(burst: LockBurst): number {
  return Math.max(burst.holdMs, busyRetryMs(burst.holdMs + burst.jitterMs) + 5);
}

interface Holder {
  worker: Worker;
  ctl: Int32Array;
  /** Resolves at the first burst, or when the thread exits without one. */
  holding: Promise<void>;
  exited: Promise<void>;
}

/** The lock holder of one database file; at most one runs (`set` changes its timing in place). */
export class SlowDatabase {
  private holder: Holder | undefined;
  private readonly exiting = new Set<Promise<void>>();

  constructor(
    private readonly file: string,
    private readonly logger?: Logger,
  ) {}

  /** Holds the write lock in bursts of `burst` from now on, or lets the database go (`undefined`). */
  set(burst: LockBurst | undefined): void {
    if (burst === undefined) {
      if (this.holder) this.stop(this.holder);
      this.holder = undefined;
      return;
    }
    const holder = this.holder ?? this.start();
    const timing: [slot: number, ms: number][] = [
      [CTL.hold, Math.round(burst.holdMs)],
      [CTL.jitter, Math.round(burst.jitterMs)],
      [CTL.gap, gapMs(burst)],
    ];
    if (timing.every(([slot, ms]) => Atomics.load(holder.ctl, slot) === ms)) return; // another kind of fault changed
    for (const [slot, ms] of timing) Atomics.store(holder.ctl, slot, ms);
    Atomics.add(holder.ctl, CTL.signal, 1);
    Atomics.notify(holder.ctl, CTL.signal);
  }

  /** True while a lock holder thread exists (a stopped one counts until it has exited). */
  get running(): boolean {
    return this.holder !== undefined || this.exiting.size > 0;
  }

  /** Bursts the current holder has started. */
  get bursts(): number {
    return this.holder ? Atomics.load(this.holder.ctl, CTL.bursts) : 0;
  }

  /** Resolves once the current holder has taken the lock for the first time (at once when none runs; at most `timeoutMs`). */
  async started(timeoutMs = 5000): Promise<void> {
    if (this.holder === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.holder.holding, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Stops the holder; resolves once every holder thread has exited (its lock released, its connection closed). */
  async close(): Promise<void> {
    this.set(undefined);
    await Promise.all([...this.exiting]);
  }

  private start(): Holder {
    const ctl = new Int32Array(new SharedArrayBuffer(CTL_SLOTS * Int32Array.BYTES_PER_ELEMENT));
    ctl.fill(-1, CTL.hold, CTL.gap + 1); // no timing yet: `set` stores the first
    const worker = new Worker(new URL('./slow-db-worker.mjs', import.meta.url), {
      workerData: { file: this.file, ctl: ctl.buffer },
    });
    worker.unref();
    worker.on('error', (err) => this.logger?.error({ err }, 'slow-db lock holder failed'));
    const holding = new Promise<void>((resolve) => {
      worker.once('message', () => resolve());
      worker.once('exit', () => resolve());
    });
    const exited = new Promise<void>((resolve) =>
      worker.once('exit', () => {
        if (this.holder?.worker === worker) this.holder = undefined; // failed: a later fault starts another
        resolve();
      }),
    );
    this.logger?.info({ file: this.file }, 'slow-db: lock holder started');
    return (this.holder = { worker, ctl, holding, exited });
  }

  private stop(h: Holder): void {
    h.worker.ref(); // whoever awaits `close` waits for the exit
    Atomics.store(h.ctl, CTL.stop, 1);
    Atomics.add(h.ctl, CTL.signal, 1);
    Atomics.notify(h.ctl, CTL.signal);
    // The holder exits at once (it waits on nothing but the control block); a stuck thread is terminated.
    const kill = setTimeout(() => void h.worker.terminate(), 2000);
    kill.unref();
    const done = h.exited.then(() => {
      clearTimeout(kill);
      this.exiting.delete(done);
      this.logger?.info({ file: this.file }, 'slow-db: lock holder stopped');
    });
    this.exiting.add(done);
  }
}
