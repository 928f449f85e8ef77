import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProcessStartError } from '../process.js';
import { portTaken } from './consul.js';

const failed = (output: string, message = 'consul did not start') =>
  new ProcessStartError(message, { output: () => output, exitCode: 1, logFile: '/tmp/consul.log' });

describe('startConsul retry rule', () => {
  it("retries on fresh ports when Consul's own output says a port was taken", () => {
    assert.equal(portTaken(failed('[ERROR] agent: bind tcp 127.0.0.1:8301: address already in use')), true);
  });

  it('does not retry another failed start, whatever the error message says', () => {
    assert.equal(portTaken(failed('[ERROR] agent: invalid config', 'address already in use')), false);
    assert.equal(portTaken(new Error('consul did not start: address already in use')), false);
  });
});
