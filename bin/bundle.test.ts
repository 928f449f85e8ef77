/**
 * The long-running children run from esbuild bundles (bin/bundle.mjs): the bundles are rebuilt
 * when a source they were built from changes, reused otherwise, and real `cellctl router` and
 * `cellctl cell` processes run from them (or through tsx with CELLSIM_BUNDLE=0).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { freePort } from '../infra/ports.js';
import { ProcessScope } from '../infra/process.js';
import { BUNDLED_COMMANDS, commandBundle } from './bundle.mjs';

const ROOT = join(import.meta.dirname, '..');

describe('child bundles', () => {
  it('are reused while their sources are unchanged and rebuilt when one changes', async () => {
    const first = await commandBundle('router');
    assert.ok(first !== undefined && existsSync(first), `bundle at ${first}`);
    for (const file of [...BUNDLED_COMMANDS.map((c) => `${c}.js`), 'worker.js'])
      assert.ok(existsSync(join(dirname(first), file)), `${file} is bundled beside the router's entry`);
    assert.equal(await commandBundle('router'), first, 'unchanged sources: the same bundle');
    assert.equal(await commandBundle('cell'), join(dirname(first), 'cell.js'), 'one build serves every command');
    const source = join(ROOT, 'router', 'table', 'resolver.ts');
    const { atime, mtime } = statSync(source);
    try {
      utimesSync(source, atime, new Date(mtime.getTime() + 5000));
      const rebuilt = await commandBundle('router');
      assert.ok(rebuilt !== undefined && rebuilt !== first && existsSync(rebuilt), 'a changed source: a new bundle');
    } finally {
      utimesSync(source, atime, mtime);
    }
    // Restored (to the millisecond: the first bundle may or may not match again), then stable.
    const restored = await commandBundle('router');
    assert.ok(restored !== undefined && existsSync(restored));
    assert.equal(await commandBundle('router'), restored);
  });

  it("keeps each source file's import.meta.url: files beside a module are found in the source tree", async () => {
    const cell = await commandBundle('cell');
    assert.ok(cell !== undefined);
    const text = readFileSync(cell, 'utf8');
    assert.ok(text.includes(JSON.stringify(new URL('../cells/faults/slow-db.ts', import.meta.url).href)), 'slow-db.ts keeps its own URL');
    assert.ok(!text.includes('import.meta.url'), 'no import.meta.url left to mean the bundle file');
  });

  it('runs real router and cell processes from the bundle, and through tsx when CELLSIM_BUNDLE=0', async () => {
    const scope = new ProcessScope();
    const data = mkdtempSync(join(tmpdir(), 'cellsim-bundle-test-'));
    try {
      await scope.run(async () => {
        const consul = await startConsul();
        scope.adopt(consul.proc);
        for (const [mode, bundled] of [
          ['1', true],
          ['0', false],
        ] as const) {
          const port = await freePort();
          const router = await scope.start({
            name: `router-bundle-${mode}`,
            command: process.execPath,
            args: [join(ROOT, 'bin', 'cellctl.js'), 'router', '--port', String(port), '--consul', consul.url],
            env: { CELLSIM_BUNDLE: mode, CELLSIM_LOG_LEVEL: 'info' },
            ready: { http: `http://127.0.0.1:${port}/readyz`, status: 200 },
            readyTimeoutMs: 20_000,
          });
          assert.match(router.output(), new RegExp(`"bundled":${bundled}.*"msg":"router listening"`));
          await router.kill();
          const cellPort = await freePort();
          const cell = await scope.start({
            name: `cell-bundle-${mode}`,
            command: process.execPath,
            args: [
              join(ROOT, 'bin', 'cellctl.js'),
              'cell',
              '--id',
              'cell-0',
              '--port',
              String(cellPort),
              '--data',
              join(data, mode),
              '--no-consul',
            ],
            env: { CELLSIM_BUNDLE: mode, CELLSIM_LOG_LEVEL: 'info', CELLSIM_CELL_ADMIN_TOKEN: 'bundle-test-token' },
            ready: { http: `http://127.0.0.1:${cellPort}/readyz`, status: 200 },
            readyTimeoutMs: 20_000,
          });
          assert.match(cell.output(), new RegExp(`"bundled":${bundled}.*"msg":"cell listening"`));
          await cell.kill();
        }
      });
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
