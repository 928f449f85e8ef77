import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCellsimError } from '../../shared/errors.js';
import { CommandError } from './common.js';

describe('CommandError', () => {
  it('carries the stable code command_failed and its exit code', () => {
    const err = new CommandError('no running topology in .cellsim', 3);
    assert.ok(isCellsimError(err, 'command_failed'));
    assert.equal(err.name, 'CommandError');
    assert.equal(err.exitCode, 3);
    assert.equal(new CommandError('x').exitCode, 1);
  });
});
