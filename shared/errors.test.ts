import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CellsimError, DOMAIN_ERROR_CODES, ERROR_CODES, HttpError, NoCapacityError, UnknownCellError, isCellsimError } from './errors.js';

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

describe('the error family', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  for (const code of Object.keys(DOMAIN_ERROR_CODES)) {
    it(`documents the domain code ${code} in docs/errors.md`, () => {
      assert.match(doc, new RegExp(`\\|\\s*\`${code}\`\\s*\\|`));
    });
  }

  it('gives every kind its stable code and name, under one base class', () => {
    const kinds: [CellsimError, string, string][] = [
      [new UnknownCellError('cell-9'), 'unknown_cell', 'UnknownCellError'],
      [new NoCapacityError('sf'), 'no_capacity', 'NoCapacityError'],
      [new HttpError('conflict', 'busy'), 'conflict', 'HttpError'],
    ];
    for (const [err, code, name] of kinds) {
      assert.ok(err instanceof CellsimError && err instanceof Error);
      assert.equal(err.code, code);
      assert.equal(err.name, name);
    }
    assert.equal(new UnknownCellError('cell-9').cell, 'cell-9');
  });

  it('isCellsimError matches by code, never by message', () => {
    const err = new UnknownCellError('cell-9', 'anything at all');
    assert.equal(isCellsimError(err), true);
    assert.equal(isCellsimError(err, 'unknown_cell'), true);
    assert.equal(isCellsimError(err, 'no_capacity', 'unknown_cell'), true);
    assert.equal(isCellsimError(err, 'no_capacity'), false);
    assert.equal(isCellsimError(new Error("unknown cell 'cell-9'"), 'unknown_cell'), false);
    assert.equal(isCellsimError(undefined), false);
  });
});
