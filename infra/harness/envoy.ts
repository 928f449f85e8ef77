/** A real Envoy for tests: from a bootstrap object, on free ports, ready when its admin says LIVE. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../binaries.js';
import { startProcess, type ManagedProcess } from '../process.js';

/** A running Envoy. */
export interface EnvoyProcess {
  proc: ManagedProcess;
  adminUrl: string;
  configPath: string;
}

/**
 * Starts Envoy with `bootstrap` (a JSON-able bootstrap; its admin must listen on `adminPort`).
 * `--use-dynamic-base-id` lets several Envoys run side by side.
 */
export async function startEnvoy(opts: {
  bootstrap: unknown;
  adminPort: number;
  name?: string;
  readyTimeoutMs?: number;
  logLevel?: string;
}): Promise<EnvoyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'cellsim-envoy-'));
  const configPath = join(dir, 'bootstrap.json');
  writeFileSync(configPath, JSON.stringify(opts.bootstrap, null, 2));
  const adminUrl = `http://127.0.0.1:${opts.adminPort}`;
  // The bootstrap's directory goes with the process (it outlived every run before).
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  let proc: ManagedProcess;
  try {
    proc = await startProcess({
      name: opts.name ?? 'envoy',
      command: requireBinary('envoy'),
      args: ['-c', configPath, '--use-dynamic-base-id', '--log-level', opts.logLevel ?? 'warn', '--concurrency', '1'],
      ready: { http: `${adminUrl}/ready`, status: 200 },
      readyTimeoutMs: opts.readyTimeoutMs ?? 30_000,
    });
  } catch (err) {
    removeDir();
    throw err;
  }
  void proc.exited.then(removeDir);
  return { proc, adminUrl, configPath };
}
