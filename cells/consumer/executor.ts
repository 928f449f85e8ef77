/**
 * Key-ordered parallel execution: up to `concurrency` tasks run at once, but tasks that share a
 * key run one after another in submission order, never two at the same time. Concurrency is set
 * by the worker count, not by how many partitions feed it.
 */

type Task = () => Promise<void>;

interface Entry {
  task: Task;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A fixed-concurrency executor that keeps per-key order. */
export class KeyOrderedExecutor {
  private readonly queues = new Map<string, Entry[]>();
  private readonly ready: string[] = [];
  private readyHead = 0;
  private active = 0;
  private pending = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('concurrency must be a positive integer');
  }

  /** Tasks submitted and not yet finished. */
  get size(): number {
    return this.pending;
  }

  /** Tasks running right now. */
  get running(): number {
    return this.active;
  }

  /** Queues `task` behind every earlier task of `key`; resolves (or rejects) with it. */
  submit(key: string, task: Task): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending++;
      const q = this.queues.get(key);
      if (q === undefined) {
        this.queues.set(key, [{ task, resolve, reject }]);
        this.ready.push(key);
      } else {
        q.push({ task, resolve, reject });
      }
      this.pump();
    });
  }

  /** Resolves when no task is queued or running. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (this.active < this.concurrency && this.readyHead < this.ready.length) {
      const key = this.ready[this.readyHead++]!;
      if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
        this.ready.splice(0, this.readyHead);
        this.readyHead = 0;
      }
      const q = this.queues.get(key)!;
      const entry = q[0]!;
      this.active++;
      void this.run(key, entry);
    }
  }

  private async run(key: string, entry: Entry): Promise<void> {
    try {
      await entry.task();
      entry.resolve();
    } catch (err) {
      entry.reject(err);
    }
    this.active--;
    this.pending--;
    const q = this.queues.get(key)!;
    q.shift();
    if (q.length === 0) this.queues.delete(key);
    else this.ready.push(key); // the key's next task waits for a free worker, behind other keys
    if (this.pending === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    this.pump();
  }
}
