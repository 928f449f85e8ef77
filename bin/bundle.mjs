/**
 * The long-running children of `cellctl up` without tsx: `cellctl router`, `control-plane`,
 * `cell` and `envoy` run from esbuild bundles of their entries (bin/entries/) and of the
 * router's table worker (router/table/worker.ts), packages left external, built into
 * node_modules/.cache/cellsim-bundle/. tsx compiles on the fly through a module-loader thread:
 * that costs the router tens of MB of RSS (docs/router.md §Running without tsx) and every child
 * seconds at each start, which a child restarted after a crash must not spend.
 *
 * Bundled code keeps the meaning of `import.meta.url`: each source file's own URL is written in
 * for it (the plugin below), so files found beside a module (the console's static files, a
 * worker script) are found in the source tree as under tsx. A file beside the bundle is named
 * with `import.meta.resolve` (the router's table worker).
 *
 * The bundles are keyed by a fingerprint of their inputs (path, size and mtime of every bundled
 * source file, listed by the last build's metafile), so an edited source is rebuilt at the next
 * start and a stale bundle never runs. Builds go to a temporary directory renamed into place, so
 * children starting together do not see half a bundle. Any failure (no esbuild, a read-only
 * node_modules) answers undefined and the caller runs the command through tsx.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'cellsim-bundle');
const INPUTS = join(CACHE, 'inputs.json');
/** The commands that run bundled, each from bin/entries/<command>.ts. */
export const BUNDLED_COMMANDS = ['router', 'control-plane', 'cell', 'envoy'];
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

function fresh(entry) {
  try {
    const dir = join(CACHE, fingerprint(JSON.parse(readFileSync(INPUTS, 'utf8'))));
    return existsSync(join(dir, entry)) ? join(dir, entry) : undefined;
  } catch {
    return undefined; // no build yet, or an input is gone: build
  }
}

/** Writes each project source file's own URL where it says `import.meta.url` (see the header). */
const sourceUrls = {
  name: 'cellsim-source-urls',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?ts$/ }, (args) => {
      if (args.path.includes('/node_modules/')) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

async function buildBundles(entry) {
  const esbuild = await import('esbuild');
  mkdirSync(CACHE, { recursive: true });
  const tmp = join(CACHE, `tmp-${process.pid}-${Date.now()}`);
  try {
    const result = await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: {
        ...Object.fromEntries(BUNDLED_COMMANDS.map((c) => [c, `bin/entries/${c}.ts`])),
        worker: 'router/table/worker.ts',
      },
      outdir: tmp,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      define: { __CELLSIM_BUNDLED__: 'true' },
      metafile: true,
      plugins: [sourceUrls],
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
    return join(dir, entry);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await esbuild.stop(); // esbuild keeps a service process otherwise
  }
}

/** The bundle file of `command` (one of BUNDLED_COMMANDS), built when missing or stale; undefined when it cannot be built. */
export async function commandBundle(command) {
  const entry = `${command}.js`;
  try {
    return fresh(entry) ?? (await buildBundles(entry));
  } catch (err) {
    process.stderr.write(
      `cellctl: ${command} bundle unavailable (${err instanceof Error ? err.message : String(err)}); running through tsx\n`,
    );
    return undefined;
  }
}
