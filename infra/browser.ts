/**
 * The console's browser test components (control-plane/ui/browser.test.ts): Debian's chromium
 * (CHROMIUM_BIN, else `chromium` on PATH; infra/install.sh installs Debian's package) and the
 * playwright-core npm package that drives it. Found here for `cellctl doctor` and the test.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import type { ToolStatus } from './binaries.js';

/** Where chromium is, or undefined. */
export function locateChromium(): { path: string; source: 'env' | 'path' } | undefined {
  const runs = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const env = process.env.CHROMIUM_BIN;
  if (env) return runs(env) ? { path: env, source: 'env' } : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'chromium');
    if (dir && runs(p)) return { path: p, source: 'path' };
  }
  return undefined;
}

/** chromium's path; throws one clear line naming the fix when it is missing. */
export function requireChromium(): string {
  const found = locateChromium();
  if (!found) {
    const env = process.env.CHROMIUM_BIN ? ` (CHROMIUM_BIN=${process.env.CHROMIUM_BIN} is no executable)` : '';
    throw new Error(`chromium not found${env}: 'npm run setup' installs Debian's chromium package, or set CHROMIUM_BIN`);
  }
  return found.path;
}

/** doctor's view of chromium: path and version (`Chromium 156.0.8078.129 ...`). */
export function probeChromium(): ToolStatus {
  const found = locateChromium();
  if (!found) return { ok: false, error: "not found: run 'npm run setup' (Debian's chromium package) or set CHROMIUM_BIN" };
  try {
    const out = execFileSync(found.path, ['--version'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
    const version = /Chromium (\d+(?:\.\d+)+)/.exec(out)?.[1];
    return version ? { ok: true, version, ...found } : { ok: false, ...found, error: `unrecognised version output: ${out.split('\n')[0]}` };
  } catch (err) {
    return { ok: false, ...found, error: `does not run: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** doctor's view of playwright-core: the installed package's folder and version. */
export function probePlaywright(): ToolStatus {
  try {
    const pkg = createRequire(import.meta.url).resolve('playwright-core/package.json');
    const { version } = JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string };
    return version ? { ok: true, version, path: dirname(pkg), source: 'path' } : { ok: false, error: 'no version in its package.json' };
  } catch {
    return { ok: false, error: "not installed: run 'npm ci'" };
  }
}
