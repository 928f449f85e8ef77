import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCellsimError } from '../../shared/errors.js';
import { LostLockError, ShutdownError } from './machine.js';

describe('migration run errors', () => {
  it('carry stable codes a caller branches on: lost_lock and shutting_down', () => {
    const lost = new LostLockError('lost the lock on migration of sf');
    const down = new ShutdownError('control plane shutting down');
    assert.ok(isCellsimError(lost, 'lost_lock') && lost.name === 'LostLockError');
    assert.ok(isCellsimError(down, 'shutting_down') && down.name === 'ShutdownError');
    assert.equal(isCellsimError(down, 'lost_lock'), false);
  });
});
