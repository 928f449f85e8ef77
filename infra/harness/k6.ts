/** Runs real k6 on a script and reads back its JSON summary. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../binaries.js';

/** The result of one k6 run. */
export interface K6Result {
  exitCode: number;
  /** The parsed `--summary-export` JSON. */
  summary: K6Summary;
  output: string;
}

/** The parts of k6's summary export that cellsim reads. */
export interface K6Summary {
  metrics: Record<string, Record<string, number | Record<string, unknown>> & { thresholds?: Record<string, boolean> }>;
}

/** Runs `k6 run` with env vars passed as `-e K=V`; resolves even when thresholds fail (exit 99). */
export function runK6(script: string, opts: { env?: Record<string, string>; args?: string[]; timeoutMs?: number } = {}): Promise<K6Result> {
  const dir = mkdtempSync(join(tmpdir(), 'cellsim-k6-'));
  const summaryPath = join(dir, 'summary.json');
  const args = ['run', '--quiet', '--no-usage-report', '--summary-export', summaryPath, ...(opts.args ?? [])];
  for (const [k, v] of Object.entries(opts.env ?? {})) args.push('-e', `${k}=${v}`);
  args.push(script);
  return new Promise((resolve, reject) => {
    execFile(
      requireBinary('k6'),
      args,
      {
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, K6_NO_USAGE_REPORT: 'true' },
        killSignal: 'SIGKILL',
      },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`;
        const exitCode = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        try {
          const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as K6Summary;
          resolve({ exitCode, summary, output });
        } catch (readErr) {
          reject(new Error(`k6 wrote no summary (exit ${exitCode}): ${(readErr as Error).message}\n${output.slice(-4000)}`));
        }
      },
    );
  });
}
