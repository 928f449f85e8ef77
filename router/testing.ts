/**
 * Test helpers for the router: start `cellctl router` as a real process on a free port and
 * wait until its /readyz answers 200 (or only until it listens).
 */
import { join } from 'node:path';
import { freePort } from '../infra/ports.js';
import type { ProcessScope, ManagedProcess } from '../infra/process.js';

const CELLCTL = join(import.meta.dirname, '..', 'bin', 'cellctl.js');

/** Options of {@link startRouterProcess}. */
export interface RouterProcessOptions {
  consulUrl: string;
  port?: number;
  snapshot?: string;
  holdMs?: number;
  workers?: number;
  extraArgs?: string[];
  /** Wait for /readyz 200 (default) or only /healthz. */
  /** More environment, e.g. the route view's token (`CELLSIM_ROUTER_ADMIN_TOKEN`). */
  env?: Record<string, string>;
  waitReady?: boolean;
  name?: string;
}

/** A started router process. */
export interface RouterProcess {
  proc: ManagedProcess;
  port: number;
  url: string;
}

/** Starts `node bin/cellctl.js router ...` in `scope`. */
export async function startRouterProcess(scope: ProcessScope, opts: RouterProcessOptions): Promise<RouterProcess> {
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const args = [CELLCTL, 'router', '--port', String(port), '--consul', opts.consulUrl, '--hold-ms', String(opts.holdMs ?? 2000)];
  if (opts.snapshot) args.push('--snapshot', opts.snapshot);
  if (opts.workers) args.push('--workers', String(opts.workers));
  args.push(...(opts.extraArgs ?? []));
  const proc = await scope.start({
    name: opts.name ?? `router-${port}`,
    command: process.execPath,
    args,
    env: { CELLSIM_LOG_LEVEL: process.env.CELLSIM_ROUTER_LOG_LEVEL ?? 'info', ...opts.env },
    ready: { http: `${url}${opts.waitReady === false ? '/healthz' : '/readyz'}`, status: 200 },
    readyTimeoutMs: 20_000,
  });
  return { proc, port, url };
}
