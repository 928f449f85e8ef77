/**
 * One supervised child of `cellctl up`: spawned in its own process group under a small shell
 * watchdog (the child dies with the supervisor, even on SIGKILL), output appended to
 * `<data>/logs/<name>.log`, readiness polled, restarted after a crash with exponential backoff
 * and jitter (reset after 10 s of uptime) unless it was told to stay down.
 *
 * It also survives faults from outside: its `pid` is the process that listens (found in /proc);
 * whatever dies — that process, its wrapper, or the whole group — the rest of the group is
 * killed and the ports checked free before the next start, so nothing is left orphaned on the
 * port; a stopped (SIGSTOP) or unresponsive child is replaced as hung; and a port taken by
 * another process is reported in one line and retried a bounded number of times.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../shared/logger.js';
import { portFree } from './ports.js';
import { watchdogArgs } from '../infra/watchdog.js';
import { describePortHolders, groupMembers, killGroupLeavesFirst, listenerIn, readProc } from '../infra/procs.js';

/** How to start one child and tell that it is ready. */
export interface ChildSpec {
  name: string;
  kind: 'consul' | 'kafka' | 'cell' | 'delivery' | 'router' | 'control-plane' | 'envoy';
  /** Under `cellctl up --log kafka`: which service of its cell the process runs (topology/delivery.ts). */
  role?: 'order' | 'delivery';
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Resolves true once the child serves. */
  ready: () => Promise<boolean>;
  /**
   * Resolves true while the child answers at all (any status: a cell that is not ready while
   * Consul is away still lives). A running child that fails it {@link LIMITS}.probeFailures
   * times in a row is replaced as hung.
   */
  alive?: () => Promise<boolean>;
  /** Shown in status and topology.json. */
  url?: string;
  port?: number;
  /** Every TCP port the child binds on 127.0.0.1, checked free before each start (default: `port`). */
  binds?: number[];
  /** The host it runs on under `cellctl up --hosts` (topology/hosts/). */
  host?: string;
  cell?: string;
  color?: 'blue' | 'green';
  version?: string;
  canary?: boolean;
  /** The defect a cell instance runs with (kept so that it can be rebuilt on another port). */
  defect?: unknown;
}

/** What a child is doing. `hung`: being replaced; `port-taken`: waiting for a port; `failed`: gave up on one. */
export type ChildState = 'starting' | 'running' | 'backoff' | 'stopped' | 'down' | 'hung' | 'port-taken' | 'failed';

/** How a child reaches its supervisor. */
export interface ChildHooks {
  /** Something topology.json shows (pid, port, state) changed. */
  changed?: () => void;
  /** A port of `spec` is taken by another process: a spec on other ports, or undefined to wait. */
  portTaken?: (spec: ChildSpec, port: number) => Promise<ChildSpec | undefined>;
  /** A line for the operator's terminal (the port reports). */
  report?: (line: string) => void;
}

/** Bounds of the fault handling (exported for tests). */
export const LIMITS = {
  /** Checks of a taken port (backoff 1, 2, 4, 8 s) before the child is given up as `failed`. */
  portAttempts: 5,
  /** Monitor period while running. */
  tickMs: 1000,
  /** A group member seen stopped this many ticks in a row: hung. */
  stoppedTicks: 2,
  /** Liveness probes failed in a row: hung. */
  probeFailures: 3,
  /** While no listener of the child is found, its group is scanned for one every this many ticks. */
  listenerScanTicks: 5,
  /** How long to wait for a killed group to be gone. */
  reapMs: 5000,
  /** How long a port may stay busy (sockets of a killed process closing) before it counts as taken. */
  portSettleMs: 2000,
};

/** True once `port` can be bound, polled for up to `ms`. */
async function waitPortFree(port: number, ms: number): Promise<boolean> {
  for (const until = Date.now() + ms; ; await sleep(100)) {
    if (await portFree(port)) return true;
    if (Date.now() >= until) return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A supervised child. */
export class Child {
  state: ChildState = 'stopped';
  restarts = 0;
  /** Set by a drill (`kill?hold=true`) or a stop: no restart until started again. */
  keepDown = false;
  /** The last fault from outside, in one line (a port taken, a hung child replaced); kept after recovery. */
  problem: string | undefined;
  /**
   * Set while its host is partitioned (`cellctl up --hosts`, topology/hosts/): the supervisor
   * cannot reach it then, so it neither probes it nor replaces it as hung.
   */
  paused = false;
  /** When {@link problem} happened (ISO time). */
  problemAt: string | undefined;
  /** When it last became ready (ISO time). */
  readyAt: string | undefined;
  private proc: ChildProcess | undefined;
  /** The process group of the current (or last, until it is reaped) watchdog. */
  private pgid: number | undefined;
  private listener: number | undefined;
  /** Pids of the group watched for a stop (SIGSTOP) while running. */
  private watched: number[] = [];
  /** Ticks since the group was last scanned for its listener. */
  private scanAgo = 0;
  private log: WriteStream | undefined;
  /** The output streams of the child's processes piped into {@link log}. */
  private piped: Readable[] = [];
  private startedAt = 0;
  private failures = 0;
  private portAttempts = 0;
  private launching: Promise<void> | undefined;
  private exited: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | undefined;
  private monitor: NodeJS.Timeout | undefined;
  private stoppedSeen = 0;
  private probeFailed = 0;
  private probing = false;

  constructor(
    public spec: ChildSpec,
    private readonly logDir: string,
    private readonly logger: Logger,
    private readonly hooks: ChildHooks = {},
  ) {}

  /** The process that listens on the child's port (null until it does). */
  get pid(): number | null {
    return this.proc ? (this.listener ?? null) : null;
  }

  /** The shell watchdog around the child (its process group id). */
  get wrapperPid(): number | null {
    return this.proc?.pid ?? null;
  }

  get logFile(): string {
    return join(this.logDir, `${this.spec.name}.log`);
  }

  /** Spawns the child (if not running) and waits until it is ready. */
  async start(timeoutMs = 60_000): Promise<void> {
    this.keepDown = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (!this.proc && !this.launching) {
      this.portAttempts = 0;
      this.state = 'starting';
      void this.launch();
    }
    await this.waitReady(timeoutMs);
  }

  /** Reaps the last group, checks the ports, spawns; a taken port schedules a retry (bounded). */
  private launch(): Promise<void> {
    this.launching ??= (async () => {
      try {
        await this.reap();
        if (this.keepDown || this.proc) return;
        const taken = await this.takenPort();
        if (this.keepDown || this.proc) return;
        if (taken === undefined) return this.spawn();
        this.portBlocked(taken);
      } catch (err) {
        this.state = 'failed';
        this.logger.error({ child: this.spec.name, err }, this.setProblem(`${this.spec.name} cannot start: ${(err as Error).message}`));
      } finally {
        this.launching = undefined;
      }
    })();
    return this.launching;
  }

  /** The first port of the spec another process holds, after moving to free ones when the supervisor can. */
  private async takenPort(): Promise<number | undefined> {
    for (let moves = 0; ; moves++) {
      let taken: number | undefined;
      for (const port of this.spec.binds ?? (this.spec.port ? [this.spec.port] : [])) {
        if (!(await waitPortFree(port, LIMITS.portSettleMs))) {
          taken = port;
          break;
        }
      }
      if (taken === undefined) return undefined;
      const moved = moves < LIMITS.portAttempts ? await this.hooks.portTaken?.(this.spec, taken) : undefined;
      if (!moved) return taken;
      const line = `${this.spec.name}: port ${taken} is taken by ${describePortHolders(taken)}; moved to port ${moved.port} (--any-ports)`;
      this.tell('warn', { port: taken, newPort: moved.port }, line);
      this.setProblem(line);
      this.spec = moved;
      this.hooks.changed?.();
    }
  }

  private portBlocked(port: number): void {
    this.portAttempts++;
    const holder = describePortHolders(port);
    const last = this.portAttempts >= LIMITS.portAttempts;
    const what = `${this.spec.name} cannot start: port ${port} is taken by ${holder}; stop that process or free the port`;
    const problem = this.setProblem(
      last
        ? `${what}, then start it again (POST /children/${this.spec.name}/start); gave up after ${this.portAttempts} checks`
        : `${what} (check ${this.portAttempts} of ${LIMITS.portAttempts})`,
    );
    this.state = last ? 'failed' : 'port-taken';
    if (this.portAttempts === 1 || last) {
      this.tell('error', { port, holder, attempts: this.portAttempts }, problem);
    }
    this.hooks.changed?.();
    if (last) return;
    this.restartTimer = setTimeout(
      () => {
        this.restartTimer = undefined;
        if (!this.keepDown && !this.proc) void this.launch();
      },
      1000 * 2 ** (this.portAttempts - 1),
    );
    this.restartTimer.unref();
  }

  /** A fault from outside, in one line: on the operator's terminal when the supervisor has one, else logged. */
  private tell(level: 'warn' | 'error', fields: Record<string, unknown>, line: string): void {
    if (this.hooks.report) this.hooks.report(line);
    else this.logger[level]({ child: this.spec.name, ...fields }, line);
  }

  private setProblem(line: string): string {
    this.problem = line;
    this.problemAt = new Date().toISOString();
    return line;
  }

  private spawn(): void {
    mkdirSync(this.logDir, { recursive: true });
    if (!this.log) {
      this.log = createWriteStream(this.logFile, { flags: 'a' });
      // A failed write to the child's log is logged, never thrown: it must not stop the supervisor.
      this.log.on('error', (err) => this.logger.warn({ child: this.spec.name, err: err.message }, 'child log write failed'));
    }
    this.state = 'starting';
    this.startedAt = Date.now();
    const proc = spawn('bash', watchdogArgs(this.spec.command, this.spec.args), {
      env: { ...process.env, ...this.spec.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.pgid = proc.pid;
    this.listener = undefined;
    // Output still buffered when the process exits arrives after 'exit': a close() unpipes first.
    this.piped = this.piped.filter((r) => !r.destroyed);
    for (const out of [proc.stdout, proc.stderr]) {
      if (!out) continue;
      out.pipe(this.log, { end: false });
      this.piped.push(out);
    }
    // Whoever started it (a start, a restart, a port retry), the child becomes `running` when ready.
    void this.watchReady(proc);
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.proc = undefined;
        this.listener = undefined;
        this.stopMonitor();
        resolve();
        this.onExit(code, signal);
      });
    });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    // A group with nobody left is forgotten at once: its id may be reused by an unrelated process.
    if (this.pgid !== undefined && groupMembers(this.pgid).length === 0) this.pgid = undefined;
    this.hooks.changed?.();
    if (this.keepDown) {
      this.state = this.state === 'stopped' ? 'stopped' : 'down';
      return;
    }
    this.failures = Date.now() - this.startedAt > 10_000 ? 1 : this.failures + 1;
    // The first exit after 10 s of uptime is no crash loop: restarted at once (the external-kill
    // drill's 5 s target includes this delay). Each exit after that doubles it: 250 ms·2^(n-1), to 10 s.
    const delay = this.failures === 1 ? 0 : Math.min(10_000, 250 * 2 ** (this.failures - 1)) * (0.5 + Math.random() / 2);
    this.state = 'backoff';
    this.logger.warn({ child: this.spec.name, code, signal, restartInMs: Math.round(delay) }, `${this.spec.name} exited; restarting`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.keepDown || this.proc) return;
      this.restarts++;
      this.portAttempts = 0;
      void this.launch();
    }, delay);
    this.restartTimer.unref();
  }

  /**
   * Kills what is left of the last process group (an orphan whose wrapper was killed still holds
   * the port) and waits until none of it lives.
   */
  private async reap(graceMs = 0): Promise<void> {
    const pgid = this.pgid;
    if (pgid === undefined || this.proc) return;
    const gone = async (ms: number) => {
      for (const until = Date.now() + ms; Date.now() < until; await sleep(50)) if (groupMembers(pgid).length === 0) return true;
      return groupMembers(pgid).length === 0;
    };
    if (graceMs > 0 && (await gone(graceMs))) return void (this.pgid = undefined);
    const left = groupMembers(pgid);
    if (left.length > 0) {
      this.logger.warn(
        { child: this.spec.name, pids: left.map((p) => p.pid) },
        `${this.spec.name}: killing what is left of its process group (${left.map((p) => `${p.pid} ${p.comm}`).join(', ')})`,
      );
      await killGroupLeavesFirst(pgid);
      if (!(await gone(LIMITS.reapMs)))
        this.logger.error({ child: this.spec.name, pgid }, `${this.spec.name}: process group ${pgid} survives SIGKILL`);
    }
    this.pgid = undefined;
  }

  /** Polls the readiness of the process `proc` (one spawn) until it serves or is gone. */
  private async watchReady(proc: ChildProcess): Promise<void> {
    for (const until = Date.now() + 120_000; this.proc === proc && Date.now() < until; await sleep(100)) {
      if ((await this.spec.ready().catch(() => false)) && this.proc === proc) return this.becameReady();
    }
  }

  /** Waits until the child runs (restarts and port retries included), at most `timeoutMs`. */
  async waitReady(timeoutMs: number): Promise<void> {
    for (const deadline = Date.now() + timeoutMs; this.state !== 'running'; await sleep(100)) {
      if (this.state === 'failed') throw new Error(this.problem ?? `${this.spec.name} failed`);
      if (!this.proc && (this.state === 'stopped' || this.state === 'down'))
        throw new Error(`${this.spec.name} exited during start (log ${this.logFile})`);
      if (Date.now() > deadline) throw new Error(`${this.spec.name} not ready after ${timeoutMs} ms (log ${this.logFile})`);
    }
  }

  private becameReady(): void {
    this.state = 'running';
    this.readyAt = new Date().toISOString();
    this.findListener();
    this.stoppedSeen = 0;
    this.probeFailed = 0;
    this.stopMonitor();
    this.monitor = setInterval(() => void this.tick(), LIMITS.tickMs);
    this.monitor.unref();
    this.hooks.changed?.();
  }

  private stopMonitor(): void {
    if (this.monitor) clearInterval(this.monitor);
    this.monitor = undefined;
  }

  /** Finds the listening process and the group members to watch; true when the listener changed. */
  private findListener(): boolean {
    const pgid = this.pgid;
    if (pgid === undefined) return false;
    const before = this.listener;
    const ports = [...new Set([this.spec.port, ...(this.spec.binds ?? [])].filter((p): p is number => p !== undefined))];
    // One scan of /proc for the group (it reads every process's stat: tens of ms on a busy machine).
    const members = groupMembers(pgid);
    this.listener = ports.map((p) => listenerIn(pgid, p, members)).find((p) => p !== undefined);
    this.watched = members.map((p) => p.pid);
    this.scanAgo = 0;
    return before !== this.listener;
  }

  /** One monitor round while running: a stopped group member or a silent child is hung. */
  private async tick(): Promise<void> {
    const pgid = this.pgid;
    if (this.state !== 'running' || !this.proc || pgid === undefined || this.paused) return;
    // A listener gone is looked for at once; one never found (a child with no port) every few ticks.
    const lost = this.listener !== undefined && readProc(this.listener)?.pgid !== pgid;
    if (lost || (this.listener === undefined && ++this.scanAgo >= LIMITS.listenerScanTicks)) {
      if (this.findListener()) this.hooks.changed?.();
    }
    const stopped = this.watched.map((pid) => readProc(pid)).filter((p) => p?.pgid === pgid && p.state === 'T');
    this.stoppedSeen = stopped.length ? this.stoppedSeen + 1 : 0;
    if (this.stoppedSeen >= LIMITS.stoppedTicks) {
      const who = stopped.map((p) => `${p!.pid} (${p!.comm})`).join(', ');
      return this.hung(`process ${who} is stopped (SIGSTOP)`);
    }
    if (!this.spec.alive || this.probing) return;
    this.probing = true;
    const alive = await this.spec.alive().catch(() => false);
    this.probing = false;
    if (this.state !== 'running' || this.pgid !== pgid) return;
    this.probeFailed = alive ? 0 : this.probeFailed + 1;
    if (this.probeFailed >= LIMITS.probeFailures) this.hung(`no answer to ${LIMITS.probeFailures} liveness probes in a row`);
  }

  /** Replaces a hung child: SIGKILL to its whole group (a stopped process dies too); restarted on exit. */
  private hung(reason: string): void {
    const problem = this.setProblem(`${this.spec.name}: ${reason}; replaced as hung`);
    this.tell('warn', { pid: this.listener }, problem);
    this.state = 'hung';
    this.stopMonitor();
    this.hooks.changed?.();
    this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.pgid;
    if (pid === undefined) return;
    if (sig === 'SIGKILL') return void killGroupLeavesFirst(pid);
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; stays down, with nothing of its group left. */
  async stop(graceMs = 10_000): Promise<void> {
    this.keepDown = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.stopMonitor();
    this.state = 'stopped';
    await this.launching;
    if (this.proc) {
      const began = Date.now();
      this.signal('SIGTERM');
      const t = setTimeout(() => {
        this.tell('warn', { graceMs }, `${this.spec.name} still runs ${graceMs} ms after SIGTERM; killing it`);
        this.signal('SIGKILL');
      }, graceMs);
      await this.exited;
      clearTimeout(t);
      await this.reap(Math.max(0, graceMs - (Date.now() - began)));
    } else await this.reap();
  }

  /** SIGKILL to the whole group at once (a crash drill); restarted with backoff unless `hold`. */
  async kill(hold: boolean): Promise<void> {
    this.keepDown = hold;
    if (hold) {
      this.state = 'down';
      if (this.restartTimer) clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    this.stopMonitor();
    if (!this.proc) return;
    this.signal('SIGKILL');
    await this.exited;
    // Answers once nothing of it lives (its ports are free), not just its watchdog.
    if (hold) await this.reap(LIMITS.reapMs);
  }

  /** Closes the log file (after a final stop). */
  close(): void {
    for (const out of this.piped) out.unpipe();
    this.piped = [];
    this.log?.end();
    this.log = undefined;
  }
}
