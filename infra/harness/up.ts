/**
 * `cellctl up` as tests and benches start it: its own data directory, 3 cells by default, warn
 * logs, any free ports (or `--hosts`: network namespaces, fixed addresses), ready on its
 * "cellsim is up" line.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startProcess, type ManagedProcess } from '../process.js';

const CELLCTL = fileURLToPath(new URL('../../bin/cellctl.js', import.meta.url));

/** Options of {@link startUp}. */
export interface UpOptions {
  data: string;
  /** The process's name in logs (default `cellctl-up`). */
  name?: string;
  cells?: number;
  /** `--hosts` instead of `--any-ports`. */
  hosts?: boolean;
  env?: Record<string, string>;
  /** `--tls`. */
  tls?: boolean;
  /** `--log kafka`: a Kafka broker per cell. */
  log?: 'sqlite' | 'kafka';
  /** `--split-cells`: with `log: 'kafka'`, the cells split into services (comma-separated, or `none`); absent: every cell. */
  splitCells?: string;
  /** `--persist`: a persistent Consul under `<data>/consul`, kept for the next `cellctl up` on `data`. */
  persist?: boolean;
  readyTimeoutMs?: number;
}

/** Starts `cellctl up` and resolves once it is up. */
export function startUp(o: UpOptions): Promise<ManagedProcess> {
  return startProcess({
    name: o.name ?? 'cellctl-up',
    command: process.execPath,
    args: [
      CELLCTL,
      'up',
      ...(o.hosts ? ['--hosts'] : []),
      '--data',
      o.data,
      ...(o.hosts ? [] : ['--any-ports']),
      ...(o.tls ? ['--tls'] : []),
      ...(o.log ? ['--log', o.log] : []),
      ...(o.splitCells !== undefined ? ['--split-cells', o.splitCells] : []),
      ...(o.persist ? ['--persist'] : []),
      '--cells',
      String(o.cells ?? 3),
      '--log-level',
      'warn',
    ],
    env: o.env,
    ready: { logLine: /cellsim is up/ },
    readyTimeoutMs: o.readyTimeoutMs ?? 150_000,
  });
}

/** A `cellctl` command's exit code and output. */
export interface CellctlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cellctl <args>` against the topology whose data directory is `data` (`CELLSIM_DATA`);
 * resolves with its exit code and output, whatever the code.
 */
export function runCellctl(data: string, args: string[], timeoutMs = 240_000): Promise<CellctlResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CELLCTL, ...args],
      { env: { ...process.env, CELLSIM_DATA: data }, timeout: timeoutMs },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs `cellctl <args> --json` and parses its one JSON document; throws with its stderr when it exits non-zero. */
export async function cellctlJson<T>(data: string, args: string[], timeoutMs?: number): Promise<T> {
  const r = await runCellctl(data, [...args, '--json'], timeoutMs);
  if (r.code !== 0) throw new Error(`cellctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
