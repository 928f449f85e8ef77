/**
 * One supervised child of `cellctl up`: spawned in its own process group under a small shell
 * watchdog (the child dies with the supervisor, even on SIGKILL), output appended to
 * `<data>/logs/<name>.log`, readiness polled, restarted after a crash with exponential backoff
 * and jitter (reset after 10 s of uptime) unless it was told to stay down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';

/** How to start one child and tell that it is ready. */
export interface ChildSpec {
  name: string;
  kind: 'consul' | 'cell' | 'router' | 'control-plane' | 'envoy';
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Resolves true once the child serves. */
  ready: () => Promise<boolean>;
  /** Shown in status and topology.json. */
  url?: string;
  port?: number;
  cell?: string;
  color?: 'blue' | 'green';
  version?: string;
  canary?: boolean;
}

/** What a child is doing. */
export type ChildState = 'starting' | 'running' | 'backoff' | 'stopped' | 'down';

const WATCHDOG = `
"$@" &
child=$!
trap 'kill -TERM $child 2>/dev/null; wait $child; exit $?' TERM INT
while kill -0 "$CELLSIM_SUPERVISOR_PID" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done
if ! kill -0 "$CELLSIM_SUPERVISOR_PID" 2>/dev/null; then kill -KILL 0; fi
wait $child
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A supervised child. */
export class Child {
  state: ChildState = 'stopped';
  restarts = 0;
  /** Set by a drill (`kill?hold=true`) or a stop: no restart until started again. */
  keepDown = false;
  private proc: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private startedAt = 0;
  private failures = 0;
  private exited: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    public spec: ChildSpec,
    private readonly logDir: string,
    private readonly logger: Logger,
  ) {}

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  get logFile(): string {
    return join(this.logDir, `${this.spec.name}.log`);
  }

  /** Spawns the child (if not running) and waits until it is ready. */
  async start(timeoutMs = 60_000): Promise<void> {
    this.keepDown = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (!this.proc) this.spawn();
    await this.waitReady(timeoutMs);
  }

  private spawn(): void {
    mkdirSync(this.logDir, { recursive: true });
    this.log ??= createWriteStream(this.logFile, { flags: 'a' });
    this.state = 'starting';
    this.startedAt = Date.now();
    const proc = spawn('bash', ['-c', WATCHDOG, 'watchdog', this.spec.command, ...this.spec.args], {
      env: { ...process.env, ...this.spec.env, CELLSIM_SUPERVISOR_PID: String(process.pid) },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stdout?.pipe(this.log, { end: false });
    proc.stderr?.pipe(this.log, { end: false });
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.proc = undefined;
        resolve();
        this.onExit(code, signal);
      });
    });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.keepDown) {
      this.state = this.state === 'stopped' ? 'stopped' : 'down';
      return;
    }
    this.failures = Date.now() - this.startedAt > 10_000 ? 1 : this.failures + 1;
    const delay = Math.min(10_000, 250 * 2 ** this.failures) * (0.5 + Math.random() / 2);
    this.state = 'backoff';
    this.logger.warn({ child: this.spec.name, code, signal, restartInMs: Math.round(delay) }, `${this.spec.name} exited; restarting`);
    this.restartTimer = setTimeout(() => {
      if (this.keepDown || this.proc) return;
      this.restarts++;
      this.spawn();
      void this.waitReady(60_000).catch(() => undefined);
    }, delay);
    this.restartTimer.unref();
  }

  /** Polls readiness until `timeoutMs`. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.proc && this.state !== 'backoff') throw new Error(`${this.spec.name} exited during start (log ${this.logFile})`);
      if (this.proc && (await this.spec.ready().catch(() => false))) {
        this.state = 'running';
        return;
      }
      if (Date.now() > deadline) throw new Error(`${this.spec.name} not ready after ${timeoutMs} ms (log ${this.logFile})`);
      await sleep(100);
    }
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.proc?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; stays down. */
  async stop(graceMs = 10_000): Promise<void> {
    this.keepDown = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.state = 'stopped';
    if (!this.proc) return;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  /** SIGKILL at once (a crash drill); restarted with backoff unless `hold`. */
  async kill(hold: boolean): Promise<void> {
    this.keepDown = hold;
    if (hold) this.state = 'down';
    if (!this.proc) return;
    this.signal('SIGKILL');
    await this.exited;
  }

  /** Closes the log file (after a final stop). */
  close(): void {
    this.log?.end();
    this.log = undefined;
  }
}
