/**
 * `cellctl doctor`'s view of the Kubernetes manifest validator's Go modules (infra/deploy/validate):
 * k8s.io/client-go at the version its go.mod pins, present in Go's module cache with its licence
 * file (`npm run setup` fetches it: infra/install.sh k8s-validate). Apache-2.0, like k8s.io/api
 * and apimachinery, which its go.mod holds at the same release.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ToolStatus } from './binaries.js';

const GO_MOD = new URL('./deploy/validate/go.mod', import.meta.url);

/** The k8s.io/client-go version infra/deploy/validate/go.mod requires (without its `v`). */
export function pinnedClientGo(goMod = GO_MOD): string | undefined {
  try {
    return /^\s*k8s\.io\/client-go v(\S+)/m.exec(readFileSync(goMod, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** doctor's view: found in Go's module cache, its version, or why not. */
export function probeClientGo(): ToolStatus {
  const pinned = pinnedClientGo();
  if (!pinned) return { ok: false, error: 'infra/deploy/validate/go.mod names no k8s.io/client-go' };
  let cache: string;
  try {
    cache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return { ok: false, pinned, error: 'go not found: the manifest validator is built with Go (install Go, then npm run setup)' };
  }
  const dir = join(cache, 'k8s.io', `client-go@v${pinned}`);
  if (!existsSync(join(dir, 'LICENSE')))
    return { ok: false, pinned, error: "not fetched: run 'npm run setup' (infra/install.sh k8s-validate)" };
  return { ok: true, version: pinned, pinned, path: dir, source: 'cache' };
}
