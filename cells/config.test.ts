import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULTS, makeConfig } from './config.js';

describe('cell config', () => {
  it('fills every knob with its default, and an undefined override keeps the default', () => {
    const c = makeConfig({ id: 'cell-1', port: 0, dataDir: '/tmp/x', drainDelayMs: undefined, workers: 4 });
    assert.equal(c.drainDelayMs, DEFAULTS.drainDelayMs);
    assert.equal(c.workers, 4);
    assert.equal(c.partitions, DEFAULTS.partitions);
  });

  it('refuses a malformed cell id', () => {
    assert.throws(() => makeConfig({ id: 'Cell 1', port: 0, dataDir: '/tmp/x' }));
  });
});
