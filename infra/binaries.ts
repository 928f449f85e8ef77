/**
 * Finds the real components (consul, envoy, vegeta) and node: `<NAME>_BIN` first, then PATH,
 * then the project's per-user cache filled by infra/install.sh. One place, used by
 * `cellctl doctor`, the test harness and every command that starts a real component.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The real components the project installs. */
export type Component = 'consul' | 'envoy' | 'vegeta';

/** What `doctor` reports per tool. */
export interface ToolStatus {
  ok: boolean;
  version?: string;
  path?: string;
  source?: 'env' | 'path' | 'cache';
  error?: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));

/** Pinned versions, read from infra/versions.env (the install script reads the same file). */
export function pinnedVersions(): Record<Component, string> {
  const text = readFileSync(join(HERE, 'versions.env'), 'utf8');
  const get = (k: string) => {
    const m = new RegExp(`^${k}=(.+)$`, 'm').exec(text);
    if (!m?.[1]) throw new Error(`infra/versions.env has no ${k}`);
    return m[1].trim();
  };
  return { consul: get('CONSUL_VERSION'), envoy: get('ENVOY_VERSION'), vegeta: get('VEGETA_VERSION') };
}

/** The per-user cache directory of installed binaries. */
export function cacheDir(): string {
  return process.env.CELLSIM_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cellsim');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/** Where a component's binary is, and how it was found; undefined when it is nowhere. */
export function locate(component: Component): { path: string; source: 'env' | 'path' | 'cache' } | undefined {
  const env = process.env[`${component.toUpperCase()}_BIN`];
  if (env) return { path: env, source: 'env' };
  const path = onPath(component);
  if (path) return { path, source: 'path' };
  const cached = join(cacheDir(), `${component}-${pinnedVersions()[component]}`, component);
  if (isExecutable(cached)) return { path: cached, source: 'cache' };
  return undefined;
}

/** The binary's path; throws one clear line naming the fix when it is missing. */
export function requireBinary(component: Component): string {
  const found = locate(component);
  if (!found) {
    throw new Error(`${component} not found: run 'npm run setup' (or set ${component.toUpperCase()}_BIN to a ${component} binary)`);
  }
  return found.path;
}

const VERSION_ARGS: Record<Component | 'node', { args: string[]; re: RegExp }> = {
  consul: { args: ['version'], re: /Consul v(\d+\.\d+\.\d+\S*)/ },
  envoy: { args: ['--version'], re: /version: [0-9a-f]+\/(\d+\.\d+\.\d+)/ },
  vegeta: { args: ['--version'], re: /Version: v?(\d+\.\d+\.\d+\S*)/ },
  node: { args: ['--version'], re: /v(\d+\.\d+\.\d+)/ },
};

/** Runs the binary's version command and parses the version. */
export function probe(tool: Component | 'node'): ToolStatus {
  const found = tool === 'node' ? { path: process.execPath, source: 'path' as const } : locate(tool);
  if (!found) {
    return { ok: false, error: `not found: run 'npm run setup' or set ${tool.toUpperCase()}_BIN` };
  }
  const spec = VERSION_ARGS[tool];
  try {
    const out = execFileSync(found.path, spec.args, { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
    const version = spec.re.exec(out)?.[1];
    if (!version) return { ok: false, path: found.path, source: found.source, error: `unrecognised version output: ${out.split('\n')[0]}` };
    return { ok: true, version, path: found.path, source: found.source };
  } catch (err) {
    return { ok: false, path: found.path, source: found.source, error: `does not run: ${(err as Error).message.split('\n')[0]}` };
  }
}
