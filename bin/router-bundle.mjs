/**
 * `cellctl router` without tsx: the router's TypeScript (bin/router-entry.ts and the table
 * worker, router/table/worker.ts) bundled by esbuild into node_modules/.cache/cellsim-router/,
 * packages left external. tsx compiles on the fly through a module-loader thread, and the table
 * worker registers its own: those loaders cost the router tens of MB of RSS (the measurement:
 * docs/router.md §Running without tsx).
 *
 * The bundle is keyed by a fingerprint of its inputs (path, size and mtime of every bundled
 * source file, listed by the last build's metafile), so an edited source is rebuilt at the next
 * start (~0.2 s) and a stale bundle never runs. Builds go to a temporary directory renamed into
 * place, so routers starting together do not see half a bundle. Any failure (no esbuild, a
 * read-only node_modules) answers undefined and the caller runs the router through tsx.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'cellsim-router');
const INPUTS = join(CACHE, 'inputs.json');
const ENTRY = 'router-entry.js';
/** Bundles of older sources are removed once this old (a router started from one keeps running). */
const PRUNE_AFTER_MS = 3_600_000;

/** A fingerprint of the bundle's input files as they are on disk now. */
function fingerprint(inputs) {
  const h = createHash('sha256');
  for (const rel of inputs) {
    const st = statSync(join(ROOT, rel));
    h.update(`${rel}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 16);
}

function fresh() {
  try {
    const dir = join(CACHE, fingerprint(JSON.parse(readFileSync(INPUTS, 'utf8'))));
    return existsSync(join(dir, ENTRY)) ? join(dir, ENTRY) : undefined;
  } catch {
    return undefined; // no build yet, or an input is gone: build
  }
}

async function buildBundle() {
  const esbuild = await import('esbuild');
  mkdirSync(CACHE, { recursive: true });
  const tmp = join(CACHE, `tmp-${process.pid}-${Date.now()}`);
  try {
    const result = await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: { 'router-entry': 'bin/router-entry.ts', worker: 'router/table/worker.ts' },
      outdir: tmp,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      define: { __CELLSIM_BUNDLED__: 'true' },
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs).sort();
    const fp = fingerprint(inputs);
    const dir = join(CACHE, fp);
    try {
      renameSync(tmp, dir);
    } catch {
      // built meanwhile by another router: use that one (`finally` removes ours)
    }
    const list = join(CACHE, `inputs-${process.pid}.json`);
    writeFileSync(list, JSON.stringify(inputs));
    renameSync(list, INPUTS);
    for (const name of readdirSync(CACHE)) {
      if (name === fp || name === 'inputs.json') continue;
      const path = join(CACHE, name);
      if (Date.now() - statSync(path).mtimeMs > PRUNE_AFTER_MS) rmSync(path, { recursive: true, force: true });
    }
    return join(dir, ENTRY);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await esbuild.stop(); // esbuild keeps a service process otherwise
  }
}

/** The router bundle's entry file, built when missing or stale; undefined when it cannot be built. */
export async function routerBundle() {
  try {
    return fresh() ?? (await buildBundle());
  } catch (err) {
    process.stderr.write(`cellctl: router bundle unavailable (${err instanceof Error ? err.message : String(err)}); running through tsx\n`);
    return undefined;
  }
}
