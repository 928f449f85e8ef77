/**
 * `cellctl up` as tests and benches start it: its own data directory, 3 cells by default, warn
 * logs, any free ports (or `--hosts`: network namespaces, fixed addresses), ready on its
 * "cellsim is up" line.
 */
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
