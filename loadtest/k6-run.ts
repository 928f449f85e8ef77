/**
 * Runs real k6 in the background while a drill acts on the topology: per-request points to
 * `--out json`, the end-of-test summary to `--summary-export`, and k6's own web-dashboard HTML
 * report exported headless next to them. Optionally pinned to CPUs (taskset) and capped
 * (GOMAXPROCS) so the load generator cannot starve the system under test.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireBinary } from '../infra/binaries.js';

/** Where the k6 scripts live. */
export const K6_DIR = fileURLToPath(new URL('./k6/', import.meta.url));

/** Options of {@link startK6}. */
export interface K6RunOptions {
  script: string;
  /** Directory for points.json, summary.json, k6-dashboard.html and k6.log. */
  outDir: string;
  env?: Record<string, string>;
  /** CPU list for taskset (e.g. "1"); ignored when taskset is missing. */
  cpus?: string;
  /** GOMAXPROCS for k6. */
  maxProcs?: number;
  /** Export k6's web dashboard report (needs a run of a few seconds). */
  dashboard?: boolean;
  /** Write per-request points (--out json). */
  points?: boolean;
  timeoutMs?: number;
}

/** A k6 run in progress. */
export interface K6Run {
  pid: number;
  /** Wall-clock ms when k6 was started. */
  startedAt: number;
  pointsFile: string;
  summaryFile: string;
  dashboardFile: string;
  /** Resolves with k6's exit code (99 = thresholds failed) and its output tail. */
  done: Promise<{ exitCode: number; output: string }>;
  /** Stops k6 early (SIGINT lets it write its summary). */
  stop(): void;
}

let tasksetChecked: boolean | undefined;
function hasTaskset(): boolean {
  tasksetChecked ??= spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  return tasksetChecked;
}

/** Starts k6; never throws for a failing test (the exit code says so). */
export function startK6(opts: K6RunOptions): K6Run {
  const k6 = requireBinary('k6');
  const pointsFile = join(opts.outDir, 'points.json');
  const summaryFile = join(opts.outDir, 'summary.json');
  const dashboardFile = join(opts.outDir, 'k6-dashboard.html');
  const args = ['run', '--quiet', '--no-usage-report', '--no-color', '--summary-export', summaryFile];
  if (opts.points !== false) args.push('--out', `json=${pointsFile}`);
  for (const [k, v] of Object.entries(opts.env ?? {})) args.push('-e', `${k}=${v}`);
  args.push(opts.script);
  const env: NodeJS.ProcessEnv = { ...process.env, K6_NO_USAGE_REPORT: 'true' };
  if (opts.maxProcs) env.GOMAXPROCS = String(opts.maxProcs);
  if (opts.dashboard) {
    Object.assign(env, {
      K6_WEB_DASHBOARD: 'true',
      K6_WEB_DASHBOARD_PORT: '-1',
      K6_WEB_DASHBOARD_PERIOD: '1s',
      K6_WEB_DASHBOARD_EXPORT: dashboardFile,
    });
  }
  const pinned = opts.cpus !== undefined && hasTaskset();
  const child = pinned
    ? spawn('taskset', ['-c', opts.cpus ?? '0', k6, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(k6, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const startedAt = Date.now();
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString('utf8')).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30 * 60_000);
  const done = new Promise<{ exitCode: number; output: string }>((resolve) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ exitCode: 127, output: `${output}\n${err.message}` });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? (signal ? 128 : 1), output });
    });
  });
  return {
    pid: child.pid ?? -1,
    startedAt,
    pointsFile,
    summaryFile,
    dashboardFile,
    done,
    stop: () => void child.kill('SIGINT'),
  };
}

/** True when k6 left its dashboard report (it skips very short runs). */
export function dashboardWritten(run: K6Run): boolean {
  return existsSync(run.dashboardFile);
}
