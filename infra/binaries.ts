/**
 * Finds the real components (consul, envoy, vegeta) and node: `<NAME>_BIN` first (any version:
 * the user chose it), then PATH when it holds the pinned version, then the project's per-user
 * cache filled by infra/install.sh, and only then a PATH binary of another version. install.sh
 * skips a build on exactly the same terms, so what it installs is what is used. One place, used
 * by `cellctl doctor`, the test harness and every command that starts a real component.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The real components the project installs. */
export type Component = 'consul' | 'envoy' | 'vegeta';

/** How a binary was found. */
export type Source = 'env' | 'path' | 'cache';

/** What `doctor` reports per tool. */
export interface ToolStatus {
  ok: boolean;
  version?: string;
  /** The version infra/versions.env pins (components only). */
  pinned?: string;
  /** SPDX id of the tool's licence. */
  license?: string;
  path?: string;
  source?: Source;
  /** Something to fix that does not stop the tool from working (e.g. not the pinned version). */
  warning?: string;
  error?: string;
}

/** Where a component's binary is, how it was found, and a PATH binary passed over for the cache. */
export interface Located {
  path: string;
  source: Source;
  /** Set when the lookup already ran the binary to read its version. */
  version?: string;
  /** A binary on PATH that is not the pinned version, skipped because the cache has the pinned one. */
  passedOver?: { path: string; version?: string };
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

/**
 * Where a component's binary is: `<NAME>_BIN`, else PATH when its version is the pinned one,
 * else the cache of the pinned version, else PATH whatever its version; undefined when nowhere.
 */
export function locate(component: Component): Located | undefined {
  const env = process.env[`${component.toUpperCase()}_BIN`];
  if (env) return { path: env, source: 'env' };
  const pinned = pinnedVersions()[component];
  const path = onPath(component);
  const pathVersion = path === undefined ? undefined : versionOf(component, path).version;
  if (path !== undefined && pathVersion === pinned) return { path, source: 'path', version: pathVersion };
  const cached = join(cacheDir(), `${component}-${pinned}`, component);
  if (isExecutable(cached)) {
    return { path: cached, source: 'cache', ...(path !== undefined ? { passedOver: { path, version: pathVersion } } : {}) };
  }
  if (path !== undefined) return { path, source: 'path', ...(pathVersion !== undefined ? { version: pathVersion } : {}) };
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

const versions = new Map<string, { version?: string; error?: string }>();

/** Runs a binary's version command once per process and parses the version (or says why not). */
export function versionOf(tool: Component | 'node', path: string): { version?: string; error?: string } {
  const key = `${tool}\0${path}`;
  const known = versions.get(key);
  if (known) return known;
  const spec = VERSION_ARGS[tool];
  let result: { version?: string; error?: string };
  try {
    const out = execFileSync(path, spec.args, { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
    const version = spec.re.exec(out)?.[1];
    result = version ? { version } : { error: `unrecognised version output: ${out.split('\n')[0]}` };
  } catch (err) {
    result = { error: `does not run: ${(err as Error).message.split('\n')[0]}` };
  }
  versions.set(key, result);
  return result;
}

/** Finds the tool and reads its version; `pinned` set for the components. */
export function probe(tool: Component | 'node'): ToolStatus & { passedOver?: Located['passedOver'] } {
  const pinned = tool === 'node' ? undefined : pinnedVersions()[tool];
  const base = pinned === undefined ? {} : { pinned };
  const found: Located | undefined = tool === 'node' ? { path: process.execPath, source: 'path' } : locate(tool);
  if (!found) {
    return { ok: false, ...base, error: `not found: run 'npm run setup' or set ${tool.toUpperCase()}_BIN` };
  }
  const where = { path: found.path, source: found.source, ...(found.passedOver ? { passedOver: found.passedOver } : {}) };
  const v = versionOf(tool, found.path);
  if (v.version === undefined) return { ok: false, ...base, ...where, error: v.error ?? 'no version' };
  return { ok: true, version: v.version, ...base, ...where };
}
