/** Where tokens come from: files and variables, the files `cellctl up` makes, and the admin API's named tokens. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isCellsimError } from './errors.js';
import { TOKEN_KINDS, adminApiTokens, ensureTokenFiles, readTokensFile, resolveToken, tokenPath } from './tokens.js';

const dir = mkdtempSync(join(tmpdir(), 'cellsim-tokens-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const A = 'aaaaaaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbbbbbb';
const C = 'cccccccccccccccccccc';

describe('tokens', () => {
  it('reads a token from its file first, else from its variable, else none', () => {
    const f = file('op', `  ${A}\n`);
    assert.equal(resolveToken('operator', f, { CELLSIM_OPERATOR_TOKEN: B }), A);
    assert.equal(resolveToken('operator', undefined, { CELLSIM_OPERATOR_TOKEN: B }), B);
    assert.equal(resolveToken('cell-admin', undefined, { CELLSIM_CELL_ADMIN_TOKEN: C }), C);
    assert.equal(resolveToken('operator', undefined, {}), undefined);
  });

  it('refuses a missing file or a value that is no token, without printing the value', () => {
    assert.throws(() => resolveToken('read', join(dir, 'none'), {}), /cannot read token file .*none: ENOENT/);
    assert.throws(() => resolveToken('read', file('short', 'abc\n'), {}), /token file .*short: not a token/);
    assert.throws(
      () => resolveToken('read', file('short2', 'abc\n'), {}),
      (err) => isCellsimError(err, 'invalid_token_config'),
      'the error carries its stable code',
    );
    const spaced = 'has a space in the middle of it';
    assert.throws(
      () => resolveToken('read', undefined, { CELLSIM_READ_TOKEN: spaced }),
      (err: Error) => /CELLSIM_READ_TOKEN: not a token/.test(err.message) && !err.message.includes(spaced),
    );
  });

  it('makes one file per token under <data>/tokens (0600, directory 0700), keeps existing ones and tightens their mode', () => {
    const data = join(dir, 'data');
    const first = ensureTokenFiles(data);
    assert.deepEqual(first.created, [...TOKEN_KINDS]);
    assert.equal(statSync(join(data, 'tokens')).mode & 0o777, 0o700);
    const values = TOKEN_KINDS.map((k) => {
      assert.equal(first.paths[k], tokenPath(data, k));
      assert.equal(statSync(first.paths[k]).mode & 0o777, 0o600, k);
      return resolveToken(k, first.paths[k], {});
    });
    assert.equal(new Set(values).size, TOKEN_KINDS.length, 'every token differs');
    chmodSync(first.paths.read, 0o644);
    const again = ensureTokenFiles(data);
    assert.deepEqual(again.created, []);
    assert.equal(statSync(first.paths.read).mode & 0o777, 0o600);
    assert.deepEqual(
      TOKEN_KINDS.map((k) => resolveToken(k, again.paths[k], {})),
      values,
    );
  });

  it('names the admin API tokens operator and read, adds those of a tokens file, and refuses clashes', () => {
    const tokensFile = file('tokens.json', JSON.stringify({ tokens: [{ name: 'alice', scope: 'operator', token: C }] }));
    assert.deepEqual(adminApiTokens({ operatorTokenFile: file('o', A), readTokenFile: file('r', B), tokensFile, env: {} }), [
      { name: 'operator', scope: 'operator', token: A },
      { name: 'read', scope: 'read', token: B },
      { name: 'alice', scope: 'operator', token: C },
    ]);
    assert.deepEqual(adminApiTokens({ env: { CELLSIM_READ_TOKEN: B } }), [{ name: 'read', scope: 'read', token: B }]);
    assert.throws(
      () => adminApiTokens({ operatorTokenFile: file('o2', A), readTokenFile: file('r2', A), env: {} }),
      /has the value of another/,
    );
    assert.throws(
      () => adminApiTokens({ operatorTokenFile: file('o3', A), others: [{ kind: 'cell-admin', token: A }], env: {} }),
      /the cell-admin token is also admin token 'operator'/,
    );
    const dup = file('dup.json', JSON.stringify({ tokens: [{ name: 'read', scope: 'operator', token: C }] }));
    assert.throws(() => adminApiTokens({ readTokenFile: file('r3', B), tokensFile: dup, env: {} }), /two admin tokens are named 'read'/);
  });

  it('validates a tokens file, naming each problem but never a value', () => {
    const bad = file('bad.json', JSON.stringify({ tokens: [{ name: 'Bob!', scope: 'admin', token: 'short-secret' }] }));
    assert.throws(
      () => readTokensFile(bad),
      (err: Error) =>
        /tokens\.0\.name/.test(err.message) &&
        /tokens\.0\.scope/.test(err.message) &&
        /tokens\.0\.token/.test(err.message) &&
        !err.message.includes('short-secret'),
    );
    assert.throws(() => readTokensFile(file('notjson', '{')), /tokens file .*notjson/);
  });
});
