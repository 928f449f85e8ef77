/** `cellctl control-plane` refuses TLS flags that cannot work, with a message and exit code 1, before starting anything. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));

/** Runs `cellctl control-plane <args>`: exit code and stderr. */
function controlPlane(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CELLCTL, 'control-plane', '--port', '0', '--xds-port', '0', '--consul', 'http://127.0.0.1:1', ...args],
      { timeout: 30_000 },
      (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    );
  });
}

describe('cellctl control-plane TLS flags', () => {
  it('--peer-tls without its certificate files says so and exits 1', async () => {
    const r = await controlPlane(['--peer-tls']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--peer-tls needs --tls-cert, --tls-key and --tls-ca/);
  });

  it('--edge-tls without --sds-dir says so and exits 1', async () => {
    const r = await controlPlane(['--edge-tls']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--edge-tls needs --sds-dir/);
  });
});
