import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERROR_CODES, HttpError } from './errors.js';

describe('error codes', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  for (const [code, { status }] of Object.entries(ERROR_CODES)) {
    it(`documents ${code} with status ${status} in docs/errors.md`, () => {
      assert.match(doc, new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
    });
  }
  it('turns an HttpError into the contract body', () => {
    const e = new HttpError('unknown_market', 'no cell owns market sf');
    assert.equal(e.status, 404);
    assert.deepEqual(e.body(), { error: { code: 'unknown_market', message: 'no cell owns market sf' } });
  });
});
