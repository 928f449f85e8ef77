/** Small measuring helpers of the router benchmark: process CPU and RSS from /proc, k6 runs pinned to one CPU. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../../infra/binaries.js';

const TICKS = 100; // getconf CLK_TCK

/** CPU seconds (user + system, all threads) a process has used. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Resident set size, MB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The first child of `pid` (the real process under the harness's watchdog shell). */
export function childOf(pid: number): number {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  if (kids.length === 0) throw new Error(`process ${pid} has no child`);
  return Number(kids[0]);
}

/** What one k6 run measured. */
export interface K6Figures {
  p50: number;
  p99: number;
  max: number;
  rps: number;
  requests: number;
  failedChecks: number;
  dropped: number;
  /** k6's own CPU, in cores (CPU seconds / wall seconds). */
  k6Cores: number;
  wallSec: number;
}

type Metric = Record<string, number>;

/** Runs k6 pinned to CPU 1 with GOMAXPROCS=1 (so the generator cannot take the router's core), CPU measured with /usr/bin/time. */
export async function k6(script: string, env: Record<string, string>): Promise<K6Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'router-bench-k6-'));
  const summary = join(dir, 'summary.json');
  const args = [
    '-f',
    'K6CPU %U %S %e',
    'taskset',
    '-c',
    '1',
    requireBinary('k6'),
    'run',
    '--quiet',
    '--no-usage-report',
    '--summary-export',
    summary,
  ];
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  args.push(script);
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('/usr/bin/time', args, { env: { ...process.env, GOMAXPROCS: '1', K6_NO_USAGE_REPORT: 'true' } });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr.on('data', (c: Buffer) => (text += c.toString()));
    child.on('error', reject);
    child.on('exit', () => resolve(text));
  });
  const cpu = /K6CPU ([\d.]+) ([\d.]+) ([\d.:]+)/.exec(out);
  let s: { metrics: Record<string, Metric> };
  try {
    s = JSON.parse(readFileSync(summary, 'utf8')) as typeof s;
  } catch {
    throw new Error(`k6 wrote no summary:\n${out.slice(-3000)}`);
  }
  const d = s.metrics.http_req_duration ?? {};
  const reqs = s.metrics.http_reqs ?? {};
  const checks = s.metrics.checks ?? {};
  const wall = cpu ? Number(cpu[3]!.split(':').reduce((a, b) => String(Number(a) * 60 + Number(b)))) : NaN;
  return {
    p50: d.med ?? NaN,
    p99: d['p(99)'] ?? NaN,
    max: d.max ?? NaN,
    rps: reqs.rate ?? NaN,
    requests: reqs.count ?? 0,
    failedChecks: checks.fails ?? 0,
    dropped: s.metrics.dropped_iterations?.count ?? 0,
    k6Cores: cpu ? (Number(cpu[1]) + Number(cpu[2])) / wall : NaN,
    wallSec: wall,
  };
}

/** Percentile of `values` (q in 0..1). */
export function pct(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}
