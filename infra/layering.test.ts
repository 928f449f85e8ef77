/**
 * Import rules (docs/contracts.md §Parts and layering): the router never imports control-plane
 * code, cells import neither the router nor the control plane, and shared/ imports no part. The
 * layers are straight: infra's ground (install, binaries, processes, ports, the test harness,
 * vegeta, deploy) imports no product part, no product part imports the test harness or the
 * topology, and no two folders import each other. Checked on the source text of every module.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sources(p, out);
    else if (/\.(ts|mjs|js)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** The files a file's relative imports reach, relative to the root. */
function importedFiles(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    out.push(relative(ROOT, resolve(join(ROOT, dirname(file)), m[1]!)));
  }
  return out;
}

/** Top-level folders a file's relative imports reach. */
function importedParts(file: string): string[] {
  return importedFiles(file).map((target) => target.split('/')[0]!);
}

/** One relative import: `from` imports `to` (both relative to the root). */
interface Import {
  from: string;
  to: string;
}

/**
 * The part a file belongs to: infra/ is the ground below everything (install, binaries, processes,
 * the test harness, vegeta, deploy); topology/ (`cellctl up`) is the top floor, which may import
 * every part.
 */
function partOf(file: string): string {
  const top = file.split('/')[0]!;
  return top === 'infra' ? 'ground' : top;
}

/** Test kit inside a part: tests, their helpers and the benchmarks, which may use the harness. */
function isTestKit(file: string): boolean {
  return /(\.test|\.test-helper)\.ts$|(^|\/)testing\.ts$|(^|\/)bench(-[a-z-]+)?\.ts$|(^|\/)bench\//.test(file);
}

/** The imports that reach a file of one of the `banned` parts, as `from → to`. */
function bannedImports(imports: Import[], banned: string[]): string[] {
  return imports.filter((i) => banned.includes(partOf(i.to))).map((i) => `${i.from} → ${i.to}`);
}

/** The imports that reach under one of the `folders` (e.g. infra/harness), as `from → to`. */
function importsUnder(imports: Import[], folders: string[]): string[] {
  return imports.filter((i) => folders.some((f) => i.to.startsWith(`${f}/`))).map((i) => `${i.from} → ${i.to}`);
}

/** The folder of a file as a path of folder names. */
function folderOf(file: string): string[] {
  return file.split('/').slice(0, -1);
}

/**
 * Pairs of folders that import each other, each with the imports both ways. Two folders are
 * compared where they branch from their common parent (cells/saga and cells/delivery, or
 * router and control-plane); a folder's own files, which wire its subfolders together, may
 * import them and be imported by them.
 */
function folderCycles(imports: Import[]): string[] {
  const edges = new Map<string, string[]>();
  for (const i of imports) {
    const a = folderOf(i.from);
    const b = folderOf(i.to);
    let n = 0;
    while (n < a.length && n < b.length && a[n] === b[n]) n++;
    if (n >= a.length || n >= b.length) continue; // same folder, or one holds the other
    const key = `${a.slice(0, n + 1).join('/')} → ${b.slice(0, n + 1).join('/')}`;
    edges.set(key, [...(edges.get(key) ?? []), `${i.from} → ${i.to}`]);
  }
  const out: string[] = [];
  for (const [key, list] of edges) {
    const [x, y] = key.split(' → ') as [string, string];
    const back = edges.get(`${y} → ${x}`);
    if (x < y && back) out.push(`${x} ↔ ${y}: ${[...list, ...back].join(', ')}`);
  }
  return out.sort();
}

const PARTS = ['bin', 'cells', 'control-plane', 'infra', 'loadtest', 'router', 'shared', 'topology'];
const PRODUCT = ['router', 'cells', 'control-plane', 'shared', 'loadtest', 'bin'];

/** Every relative import of every module of every part, test kit left out. */
function productImports(): Import[] {
  return PARTS.flatMap((dir) => sources(dir))
    .filter((f) => !isTestKit(f))
    .flatMap((from) => importedFiles(from).map((to) => ({ from, to })));
}

const FORBIDDEN: Record<string, string[]> = {
  router: ['control-plane', 'cells', 'loadtest'],
  cells: ['router', 'control-plane', 'loadtest'],
  shared: ['router', 'cells', 'control-plane', 'loadtest', 'infra', 'topology'],
};

describe('layering', () => {
  const imports = productImports();
  const of = (...parts: string[]) => imports.filter((i) => parts.includes(partOf(i.from)));

  it("infra's ground (install, binaries, processes, harness, vegeta, deploy) imports no product part and not the topology", () => {
    assert.ok(of('ground').length > 0);
    assert.deepEqual(bannedImports(of('ground'), [...PRODUCT, 'topology']), []);
  });

  it('neither a product part nor the topology imports the test harness', () => {
    assert.deepEqual(importsUnder(of(...PRODUCT, 'topology'), ['infra/harness']), []);
  });

  it("no product part imports the topology (bin/'s dispatcher alone loads `cellctl up`)", () => {
    assert.deepEqual(importsUnder(of(...PRODUCT.filter((p) => p !== 'bin')), ['topology']), []);
  });

  it('no two folders import each other', () => {
    assert.deepEqual(folderCycles(imports), []);
  });

  for (const [part, banned] of Object.entries(FORBIDDEN)) {
    it(`${part}/ imports none of ${banned.join(', ')}`, () => {
      const files = sources(part).filter((f) => !f.endsWith('.test.ts'));
      assert.ok(files.length > 0, `no sources under ${part}/`);
      const bad = files.flatMap((f) =>
        importedParts(f)
          .filter((p) => banned.includes(p))
          .map((p) => `${f} → ${p}/`),
      );
      assert.deepEqual(bad, []);
    });
  }
});

describe('layering checker', () => {
  it('tells the ground from the topology, and test kit from product code', () => {
    assert.equal(partOf('infra/harness/consul.ts'), 'ground');
    assert.equal(partOf('infra/binaries.ts'), 'ground');
    assert.equal(partOf('topology/supervisor.ts'), 'topology');
    assert.equal(partOf('cells/saga/handler.ts'), 'cells');
    const kit = [
      'router/testing.ts',
      'cells/saga/saga.test.ts',
      'loadtest/env/echo-env.test-helper.ts',
      'router/bench/index.ts',
      'topology/bench.ts',
    ];
    for (const f of kit) assert.equal(isTestKit(f), true, f);
    for (const f of ['loadtest/env/up-env.ts', 'topology/ports.ts', 'router/table/benchmark.ts']) assert.equal(isTestKit(f), false, f);
  });

  it('finds a ground module that imports a product part or the topology', () => {
    const crafted: Import[] = [
      { from: 'infra/harness/echo-cell.ts', to: 'shared/consul-watch.js' },
      { from: 'infra/harness/consul.ts', to: 'topology/wiring.js' },
      { from: 'infra/harness/consul.ts', to: 'infra/process.js' },
    ];
    assert.deepEqual(bannedImports(crafted, [...PRODUCT, 'topology']), [
      'infra/harness/echo-cell.ts → shared/consul-watch.js',
      'infra/harness/consul.ts → topology/wiring.js',
    ]);
  });

  it('finds product code that imports the test harness or the topology', () => {
    const crafted: Import[] = [
      { from: 'loadtest/env/up-env.ts', to: 'infra/harness/process.js' },
      { from: 'control-plane/envoy-cli.ts', to: 'infra/binaries.js' },
      { from: 'router/main.ts', to: 'topology/ports.js' },
    ];
    assert.deepEqual(importsUnder(crafted, ['infra/harness']), ['loadtest/env/up-env.ts → infra/harness/process.js']);
    assert.deepEqual(importsUnder(crafted, ['topology']), ['router/main.ts → topology/ports.js']);
  });

  it('finds two folders that import each other at any depth, and lets a folder wire its own subfolders', () => {
    const crafted: Import[] = [
      { from: 'cells/delivery/handler.ts', to: 'cells/saga/orchestrator.js' },
      { from: 'cells/saga/orchestrator.ts', to: 'cells/delivery/courier.js' },
      { from: 'cells/cell.ts', to: 'cells/saga/orchestrator.js' },
      { from: 'cells/saga/orchestrator.ts', to: 'cells/metrics.js' },
      { from: 'control-plane/xds/cache/snapshot.ts', to: 'control-plane/xds/resources/type-urls.js' },
      { from: 'infra/harness/consul.ts', to: 'topology/wiring.js' },
      { from: 'topology/ports.ts', to: 'infra/harness/ports.js' },
    ];
    assert.deepEqual(folderCycles(crafted), [
      'cells/delivery ↔ cells/saga: cells/delivery/handler.ts → cells/saga/orchestrator.js, cells/saga/orchestrator.ts → cells/delivery/courier.js',
      'infra ↔ topology: infra/harness/consul.ts → topology/wiring.js, topology/ports.ts → infra/harness/ports.js',
    ]);
    assert.deepEqual(folderCycles(crafted.slice(2, 5)), []);
  });
});
