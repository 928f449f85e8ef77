/**
 * One poll of Consul per control plane, shared by every open console
 * (docs/console.md §Live state): while at least one browser listens, a snapshot is read every
 * `intervalMs` (paced to at least 5x its own cost) and handed to every listener; a page render
 * takes the latest one when it is fresh, else reads one (joining a read in flight, never
 * starting a second).
 */
import type { Logger } from '../../shared/logger.js';
import type { Snapshot } from './snapshot.js';

/** Options of {@link Feed}. */
export interface FeedOptions {
  read: (seq: number) => Promise<Snapshot>;
  log: Logger;
  /** Pause between polls while someone listens, ms [1,000]. */
  intervalMs?: number;
}

/** A listener of new snapshots. */
export type FeedListener = (s: Snapshot) => void;

/** The shared poller. */
export class Feed {
  private readonly listeners = new Set<FeedListener>();
  private latestSnap: Snapshot | undefined;
  private inFlight: Promise<Snapshot> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private closed = false;
  /** How many Consul polls the feed made (the test of "one poll per control plane" reads it). */
  polls = 0;

  constructor(private readonly o: FeedOptions) {}

  /** The latest snapshot if younger than `maxAgeMs`, else a fresh one. */
  async latest(maxAgeMs = 1000): Promise<Snapshot> {
    const s = this.latestSnap;
    if (s && Date.now() - Date.parse(s.at) <= maxAgeMs) return s;
    return this.poll();
  }

  /** Adds a listener (starting the poll loop with the first); returns its removal. */
  subscribe(fn: FeedListener): () => void {
    this.listeners.add(fn);
    if (this.listeners.size === 1) this.schedule(0);
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** How many browsers listen. */
  get listening(): number {
    return this.listeners.size;
  }

  /** Stops polling for good. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
  }

  private poll(): Promise<Snapshot> {
    if (this.inFlight) return this.inFlight;
    const started = Date.now();
    this.polls++;
    const p = this.o.read(++this.seq).then((s) => {
      this.latestSnap = s;
      for (const fn of this.listeners) fn(s);
      return s;
    });
    this.inFlight = p.finally(() => {
      this.inFlight = undefined;
      this.lastCostMs = Date.now() - started;
    });
    return this.inFlight;
  }

  private lastCostMs = 0;

  private schedule(delayMs: number): void {
    if (this.closed || this.listeners.size === 0 || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.poll()
        .catch((err: Error) => this.o.log.warn({ err: err.message }, 'console: reading the live state failed'))
        .finally(() => this.schedule(Math.max(this.o.intervalMs ?? 1000, 5 * this.lastCostMs)));
    }, delayMs);
    this.timer.unref();
  }
}
