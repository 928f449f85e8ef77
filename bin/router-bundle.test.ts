/**
 * The router runs from an esbuild bundle (bin/router-bundle.mjs): the bundle is rebuilt when a
 * source it was built from changes, reused otherwise, and a real `cellctl router` process runs
 * from it (or through tsx with CELLSIM_ROUTER_BUNDLE=0).
 */
import assert from 'node:assert/strict';
import { existsSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { freePort } from '../infra/ports.js';
import { ProcessScope } from '../infra/process.js';
import { routerBundle } from './router-bundle.mjs';

const ROOT = join(import.meta.dirname, '..');

describe('router bundle', () => {
  it('is reused while its sources are unchanged and rebuilt when one changes', async () => {
    const first = await routerBundle();
    assert.ok(first !== undefined && existsSync(first), `bundle at ${first}`);
    assert.ok(existsSync(join(first, '..', 'worker.js')), 'the table worker is bundled beside the entry');
    assert.equal(await routerBundle(), first, 'unchanged sources: the same bundle');
    const source = join(ROOT, 'router', 'table', 'resolver.ts');
    const { atime, mtime } = statSync(source);
    try {
      utimesSync(source, atime, new Date(mtime.getTime() + 5000));
      const rebuilt = await routerBundle();
      assert.ok(rebuilt !== undefined && rebuilt !== first && existsSync(rebuilt), 'a changed source: a new bundle');
    } finally {
      utimesSync(source, atime, mtime);
    }
    // Restored (to the millisecond: the first bundle may or may not match again), then stable.
    const restored = await routerBundle();
    assert.ok(restored !== undefined && existsSync(restored));
    assert.equal(await routerBundle(), restored);
  });

  it('runs a real router process from the bundle, and through tsx when CELLSIM_ROUTER_BUNDLE=0', async () => {
    const scope = new ProcessScope();
    await scope.run(async () => {
      const consul = await startConsul();
      scope.adopt(consul.proc);
      for (const [mode, bundled] of [
        ['1', true],
        ['0', false],
      ] as const) {
        const port = await freePort();
        const proc = await scope.start({
          name: `router-bundle-${mode}`,
          command: process.execPath,
          args: [join(ROOT, 'bin', 'cellctl.js'), 'router', '--port', String(port), '--consul', consul.url],
          env: { CELLSIM_ROUTER_BUNDLE: mode, CELLSIM_LOG_LEVEL: 'info' },
          ready: { http: `http://127.0.0.1:${port}/readyz`, status: 200 },
          readyTimeoutMs: 20_000,
        });
        assert.match(proc.output(), new RegExp(`"bundled":${bundled}.*"msg":"router listening"`));
        await proc.kill();
      }
    });
  });
});
