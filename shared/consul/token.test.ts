/** Where a Consul client finds its ACL token when its caller names none (token.ts). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isConsulError } from './errors.js';
import { consulTokenFromEnv } from './token.js';

const dir = mkdtempSync(join(tmpdir(), 'cellsim-consul-token-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('consulTokenFromEnv', () => {
  it('reads the file CELLSIM_CONSUL_TOKEN_FILE names before CELLSIM_CONSUL_TOKEN', () => {
    const file = join(dir, 'router');
    writeFileSync(file, '  from-the-file\n', { mode: 0o600 });
    assert.equal(consulTokenFromEnv({ CELLSIM_CONSUL_TOKEN_FILE: file, CELLSIM_CONSUL_TOKEN: 'from-the-variable' }), 'from-the-file');
    assert.equal(consulTokenFromEnv({ CELLSIM_CONSUL_TOKEN: ' from-the-variable ' }), 'from-the-variable');
  });

  it('answers no token when neither is set, or set empty', () => {
    assert.equal(consulTokenFromEnv({}), undefined);
    assert.equal(consulTokenFromEnv({ CELLSIM_CONSUL_TOKEN_FILE: '', CELLSIM_CONSUL_TOKEN: '' }), undefined);
  });

  it('fails with consul_token on a named file that is missing or empty, without naming a token', () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    for (const file of [join(dir, 'missing'), empty]) {
      assert.throws(
        () => consulTokenFromEnv({ CELLSIM_CONSUL_TOKEN_FILE: file, CELLSIM_CONSUL_TOKEN: 'fallback-token' }),
        (err) => isConsulError(err, 'consul_token') && !err.message.includes('fallback-token'),
      );
    }
  });
});
