/**
 * Real child processes for tests, benchmarks and drills: start on free ports, wait for
 * readiness, keep their output for failure reports, and always clean up. Every child runs in
 * its own process group under a tiny shell watchdog that kills it if the parent dies (even by
 * SIGKILL), so no child can outlive a test run or a drill. Children carry
 * CELLSIM_TEST_RUN so a test run can check for strays.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, createWriteStream, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchdogArgs } from './watchdog.js';

/** How to tell that a started process is ready. */
export type Readiness = { http: string; status?: number } | { check: () => Promise<boolean> } | { logLine: RegExp } | { none: true };

/** Options of {@link startProcess}. */
export interface StartOptions {
  name: string;
  command: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  ready?: Readiness;
  readyTimeoutMs?: number;
}

const RUN_ID = process.env.CELLSIM_TEST_RUN ?? `run-${process.pid}-${Date.now()}`;
const LOG_DIR = join(tmpdir(), 'cellsim-test-logs', RUN_ID);
const live = new Set<ManagedProcess>();

/** A started process with its captured output. */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  private readonly tail: string[] = [];
  private readonly logStream: WriteStream;
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;

  constructor(opts: StartOptions) {
    this.name = opts.name;
    mkdirSync(LOG_DIR, { recursive: true });
    this.logFile = join(LOG_DIR, `${opts.name.replace(/[^a-zA-Z0-9_.-]/g, '_')}-${Date.now()}.log`);
    this.logStream = createWriteStream(this.logFile);
    this.child = spawn('bash', watchdogArgs(opts.command, opts.args ?? []), {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env, CELLSIM_TEST_RUN: RUN_ID },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (chunk: Buffer) => {
      this.logStream.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.tail.push(line);
        if (this.tail.length > 200) this.tail.shift();
      }
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : null);
        live.delete(this);
        this.logStream.end();
        resolve(code);
      });
    });
    live.add(this);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last lines of output (stdout and stderr interleaved). */
  output(): string {
    return this.tail.join('\n');
  }

  /** Sends a signal to the whole process group. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      /* already gone */
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL the group at once (a crash). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.signal('SIGKILL');
    await this.exited;
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls until `check` is true; throws with `describe()` on timeout. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  describe: () => string,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
    await sleep(intervalMs);
  }
}

async function httpOk(url: string, status?: number): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await res.arrayBuffer();
  return status === undefined ? res.ok : res.status === status;
}

/**
 * A child that exited or did not become ready (code `process_start_failed`, docs/errors.md).
 * `output` is the child's own last output, for callers that must read what the child said.
 */
export class ProcessStartError extends Error {
  readonly code = 'process_start_failed';
  readonly output: string;
  readonly exitCode: number | null | undefined;
  readonly logFile: string;

  constructor(message: string, proc: Pick<ManagedProcess, 'output' | 'exitCode' | 'logFile'>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProcessStartError';
    this.output = proc.output();
    this.exitCode = proc.exitCode;
    this.logFile = proc.logFile;
  }
}

/** Starts a process and waits until it is ready; on a failed start, stops it and throws a {@link ProcessStartError}. */
export async function startProcess(opts: StartOptions): Promise<ManagedProcess> {
  const proc = new ManagedProcess(opts);
  const ready = opts.ready ?? { none: true };
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  try {
    await waitFor(
      async () => {
        if (!proc.running) return true; // exited: stop waiting, reported below
        if ('http' in ready) return httpOk(ready.http, ready.status);
        if ('check' in ready) return ready.check();
        if ('logLine' in ready) return ready.logLine.test(proc.output());
        return true;
      },
      timeoutMs,
      () => `${opts.name} to become ready`,
    );
    if (!proc.running) throw new Error('exited');
  } catch (err) {
    await proc.stop(1000);
    throw new ProcessStartError(
      `${opts.name} did not start (${(err as Error).message}; exit ${String(proc.exitCode)}); log ${proc.logFile}:\n${proc.output().slice(-4000)}`,
      proc,
      { cause: err },
    );
  }
  return proc;
}

/** Stops every process this test process started (used by scopes and on exit). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(3000)));
}

/**
 * A group of processes owned by one test or one file: `run()` wraps the body, prints each
 * process's output when it fails, and stops them all whatever happens.
 */
export class ProcessScope {
  private readonly procs: ManagedProcess[] = [];

  /** Starts a process owned by this scope. */
  async start(opts: StartOptions): Promise<ManagedProcess> {
    const p = await startProcess(opts);
    this.procs.push(p);
    return p;
  }

  /** Adopts a process started elsewhere. */
  adopt(p: ManagedProcess): ManagedProcess {
    this.procs.push(p);
    return p;
  }

  /** Output of every process, for a failure report. */
  report(): string {
    return this.procs.map((p) => `----- ${p.name} (log ${p.logFile}) -----\n${p.output().slice(-3000)}`).join('\n');
  }

  /** Stops every process of the scope (last started first). */
  async close(): Promise<void> {
    for (const p of [...this.procs].reverse()) await p.stop(3000);
  }

  /** Runs `body`; on failure prints the processes' output; always closes. */
  async run<T>(body: (scope: ProcessScope) => Promise<T>): Promise<T> {
    try {
      return await body(this);
    } catch (err) {
      process.stderr.write(`\n${this.report()}\n`);
      throw err;
    } finally {
      await this.close();
    }
  }
}

// Last line of defence: whatever ends this process, its children go too.
const killAllSync = () => {
  for (const p of live) p.signal('SIGKILL');
};
process.once('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAllSync();
    process.exit(130);
  });
}
