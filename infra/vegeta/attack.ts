/**
 * Runs real vegeta: `vegeta attack -format=json` piped into `vegeta encode --to json`, every
 * result line kept in a file (for `vegeta report` / `vegeta plot`) and handed to `onResult` as it
 * arrives. Targets come from a file (vegeta loops over it) or are written live (`-lazy`), so a
 * caller can stream any number of them in constant memory and react to answers. A live writer
 * must stay ahead of vegeta's pacer: vegeta stamps a request's start before it reads the target,
 * so a target that is late to the pipe counts its wait as latency. Optionally
 * pinned to CPUs (taskset) and capped (GOMAXPROCS) so the generator cannot starve the system
 * under test, with its own CPU time measured by /usr/bin/time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { requireBinary } from '../binaries.js';
import { parseResult, type VegetaResult } from './results.js';
import { encodeTarget, type VegetaTarget } from './targets.js';

/** Options of {@link startAttack}. */
export interface AttackOptions {
  /** A file of JSON targets (vegeta round-robins over it); absent = targets are written live with `send`. */
  targetsFile?: string;
  /** Requests per second; 0 = as fast as the workers go (needs `maxWorkers`), or as fast as `send` feeds them. */
  rate: number;
  /** Stop after this long; absent = until the targets end (`end()`) or `stop()`. */
  durationMs?: number;
  /** Initial workers (vegeta's default 10). */
  workers?: number;
  /** Upper bound on workers; required with rate 0. */
  maxWorkers?: number;
  /** Per-request timeout (vegeta's default 30 s). */
  timeoutMs?: number;
  /** Bytes of each response body kept in the results; default 0 (none), -1 = all. */
  maxBody?: number;
  /** Where the JSON result lines go (kept for `vegeta report` and `vegeta plot`). */
  resultsFile: string;
  /** Called with every result, in the order vegeta writes them. */
  onResult?: (r: VegetaResult) => void;
  /** CPU list for taskset (e.g. "1"). */
  cpus?: string;
  /** GOMAXPROCS for vegeta. */
  maxProcs?: number;
  /** Network namespace to attack from (`ip netns exec`): the client host of `cellctl up --hosts`. */
  netns?: string;
  /** Hard cap on the attack's life; default duration + 10 min. */
  killAfterMs?: number;
  /** A CA certificate file (PEM) that `https:` targets must chain to (vegeta's `-root-certs`), e.g. `<data>/tls/ca.crt`. */
  rootCerts?: string;
}

/** How the attack ended. */
export interface AttackOutcome {
  exitCode: number;
  /** Results read (the end-of-targets marker excluded). */
  results: number;
  /** vegeta's stderr tail. */
  output: string;
  /** vegeta attack's own CPU time (user + system), seconds; NaN when /usr/bin/time is missing. */
  cpuSec: number;
  wallSec: number;
}

/** An attack in progress. */
export interface Attack {
  pid: number;
  /** Wall-clock ms when vegeta was started. */
  startedAt: number;
  /** Queues one target (live mode); false when the pipe is full (wait for `drain`). */
  send(target: VegetaTarget): boolean;
  /** Resolves when the target pipe can take more. */
  drain(): Promise<void>;
  /** No more targets: vegeta finishes what it has and exits. */
  end(): void;
  /** Stops vegeta now (SIGINT: it writes the results it has). */
  stop(): void;
  done: Promise<AttackOutcome>;
}

let tasksetOk: boolean | undefined;
function hasTaskset(): boolean {
  tasksetOk ??= spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  return tasksetOk;
}
const TIME = '/usr/bin/time';
const CPU_LINE = /^VEGETA_CPU ([\d.]+) ([\d.]+) ([\d.]+)$/m;

/** The `vegeta attack` arguments for these options. */
export function attackArgs(o: AttackOptions): string[] {
  if (o.rate === 0 && !o.maxWorkers) throw new Error('vegeta attack: rate 0 needs maxWorkers (vegeta refuses an unbounded worker pool)');
  const args = ['attack', '-format=json', `-rate=${o.rate === 0 ? '0' : `${o.rate}/1s`}`, `-max-body=${o.maxBody ?? 0}`];
  if (o.targetsFile) args.push(`-targets=${o.targetsFile}`);
  else args.push('-lazy');
  if (o.durationMs !== undefined) args.push(`-duration=${Math.round(o.durationMs)}ms`);
  if (o.workers !== undefined) args.push(`-workers=${o.workers}`);
  if (o.maxWorkers !== undefined) args.push(`-max-workers=${o.maxWorkers}`);
  if (o.timeoutMs !== undefined) args.push(`-timeout=${Math.round(o.timeoutMs)}ms`);
  if (o.rootCerts !== undefined) args.push(`-root-certs=${o.rootCerts}`);
  return args;
}

function collect(child: ChildProcess, keep: (s: string) => void): void {
  child.stderr?.on('data', (b: Buffer) => keep(b.toString('utf8')));
}

/** Starts vegeta; never throws for a failed request (each result says so). */
export function startAttack(o: AttackOptions): Attack {
  const vegeta = requireBinary('vegeta');
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (o.maxProcs) env.GOMAXPROCS = String(o.maxProcs);
  let cmd = [vegeta, ...attackArgs(o)];
  if (o.cpus !== undefined && hasTaskset()) cmd = ['taskset', '-c', o.cpus, ...cmd];
  if (o.netns !== undefined) cmd = ['ip', 'netns', 'exec', o.netns, ...cmd];
  const timed = existsSync(TIME);
  if (timed) cmd = [TIME, '-f', 'VEGETA_CPU %U %S %e', ...cmd];
  const attack = spawn(cmd[0]!, cmd.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const encode = spawn(vegeta, ['encode', '--to', 'json'], { stdio: ['pipe', 'pipe', 'pipe'] });
  attack.stdout?.pipe(encode.stdin);
  // A target pipe closed by an exiting vegeta is not an error of the caller's.
  attack.stdin?.on('error', () => undefined);
  encode.stdin?.on('error', () => undefined);
  const startedAt = Date.now();
  let output = '';
  const keep = (s: string) => (output = (output + s).slice(-20_000));
  collect(attack, keep);
  collect(encode, keep);
  if (o.targetsFile) attack.stdin?.end();

  const file = createWriteStream(o.resultsFile);
  let count = 0;
  let parseError: Error | undefined;
  const lines = createInterface({ input: encode.stdout, crlfDelay: Infinity });
  lines.on('line', (text) => {
    if (!text) return;
    try {
      const r = parseResult(text);
      // The end-of-targets marker is no request: kept out of the file so vegeta report counts only requests.
      if (!r) return;
      file.write(`${text}\n`);
      count++;
      o.onResult?.(r);
    } catch (err) {
      parseError ??= new Error(`vegeta result ${count + 1}: ${(err as Error).message}`);
    }
  });
  const killAfter = o.killAfterMs ?? (o.durationMs ?? 0) + 10 * 60_000;
  const timer = setTimeout(() => attack.kill('SIGKILL'), killAfter);
  timer.unref();
  const exited = (c: ChildProcess) =>
    new Promise<number>((resolve) => {
      c.on('error', (err) => {
        keep(`\n${err.message}`);
        resolve(127);
      });
      c.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  const attackExit = exited(attack);
  const encodeExit = exited(encode);
  const linesClosed = new Promise<void>((r) => lines.once('close', () => r()));
  const done = (async (): Promise<AttackOutcome> => {
    const code = await attackExit;
    clearTimeout(timer);
    await encodeExit;
    await linesClosed;
    await new Promise<void>((r) => file.end(() => r()));
    const cpu = CPU_LINE.exec(output);
    output = output.replace(CPU_LINE, '').trim();
    if (parseError) throw parseError;
    return {
      exitCode: code,
      results: count,
      output,
      cpuSec: cpu ? Number(cpu[1]) + Number(cpu[2]) : Number.NaN,
      wallSec: cpu ? Number(cpu[3]) : (Date.now() - startedAt) / 1000,
    };
  })();
  // /usr/bin/time forwards SIGINT to vegeta; without it the signal reaches vegeta directly.
  return {
    pid: attack.pid ?? -1,
    startedAt,
    send: (t) => attack.stdin?.write(encodeTarget(t)) ?? false,
    drain: () => new Promise((r) => (attack.stdin?.writableNeedDrain ? attack.stdin.once('drain', () => r()) : r())),
    end: () => void attack.stdin?.end(),
    stop: () => {
      attack.stdin?.end();
      attack.kill('SIGINT');
    },
    done,
  };
}
