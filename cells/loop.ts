/** A background polling loop: runs a step, again at once while it finds work, else after an interval. */
import type { Logger } from '../shared/logger.js';

/** A restartable polling loop around `step` (which returns how much work it did). */
export class PollLoop {
  private running = false;
  private current: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly name: string,
    private readonly step: () => Promise<number>,
    private readonly intervalMs: number,
    private readonly logger?: Logger,
  ) {}

  /** Starts the loop (no-op when running). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.current = this.run();
  }

  /** Runs the next step now instead of after the interval. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Stops after the step in progress; resolves when it has finished. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.current;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let did = 0;
      try {
        did = await this.step();
      } catch (err) {
        this.logger?.warn({ err, loop: this.name }, 'background step failed');
      }
      if (!this.running) break;
      if (did > 0) await new Promise((r) => setImmediate(r));
      else await this.sleep(this.intervalMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeUp = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}

/** Waits `ms`. */
export function pause(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
