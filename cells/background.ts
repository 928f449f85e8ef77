/**
 * The cell's background work — outbox relay, delivery consumer, saga orchestrator, scheduled
 * reconciliation — run by whichever process (blue or green) holds the `background` lease row.
 * The holder renews it every third of its TTL; when it dies, another process takes over.
 */
import type Database from 'better-sqlite3';
import type { Logger } from '../shared/logger.js';
import { releaseLease, tryAcquireLease } from './db/lease.js';
import type { PollLoop } from './loop.js';

/** The lease name guarding background work. */
export const BACKGROUND_LEASE = 'background';

/**
 * The parts that only the lease holder runs. Every part but the relay is optional: a cell's
 * order service (`--role order`) runs no saga, its delivery service consumes outside the lease
 * as a consumer-group member (cells/roles.ts).
 */
export interface BackgroundParts {
  relay: PollLoop;
  consumer?: { start(): void; stop(): Promise<void> };
  saga?: PollLoop;
  orchestrator?: { drain(): Promise<void> };
  reconcile?: PollLoop;
}

/** Lease-guarded start/stop of the background parts. */
export class Background {
  private leader = false;
  private timer: NodeJS.Timeout | undefined;
  private transition: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Database.Database,
    private readonly parts: BackgroundParts,
    private readonly holder: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {}

  /** True while this process holds the lease and runs the parts. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Starts competing for the lease. */
  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), Math.max(100, Math.floor(this.ttlMs / 3)));
  }

  /** Stops the parts (the consumer finishes its current batch and commits) and gives the lease up. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.transition;
    if (this.leader) await this.safely('stop', () => this.stopParts());
    try {
      releaseLease(this.db, BACKGROUND_LEASE, this.holder);
    } catch (err) {
      this.logger.warn({ err }, 'could not release the background lease; it will expire');
    }
  }

  private check(): void {
    let held = false;
    try {
      held = tryAcquireLease(this.db, BACKGROUND_LEASE, this.holder, this.ttlMs);
    } catch (err) {
      this.logger.warn({ err }, 'lease check failed');
    }
    if (held && !this.leader) {
      this.leader = true;
      this.logger.info({ holder: this.holder }, 'took the background lease: running relay, consumer, saga, reconciler (those of its role)');
      this.transition = this.transition.then(() => this.safely('start', () => this.startParts()));
    } else if (!held && this.leader) {
      this.leader = false;
      this.logger.warn({ holder: this.holder }, 'lost the background lease: stopping background work');
      this.transition = this.transition.then(() => this.safely('stop', () => this.stopParts()));
    }
  }

  private async safely(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.logger.error({ err }, `background ${what} failed`);
    }
  }

  private async startParts(): Promise<void> {
    this.parts.consumer?.start();
    this.parts.relay.start();
    this.parts.saga?.start();
    this.parts.reconcile?.start();
  }

  private async stopParts(): Promise<void> {
    await this.parts.relay.stop();
    await this.parts.saga?.stop();
    await this.parts.reconcile?.stop();
    await this.parts.consumer?.stop();
    await this.parts.orchestrator?.drain();
  }
}
