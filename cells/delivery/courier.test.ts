import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCellsimError } from '../../shared/errors.js';
import { FaultRegistry } from '../faults/registry.js';
import { CourierService } from './courier.js';

describe('courier service', () => {
  it('fails an aborted call with the coded courier_unavailable error', async () => {
    const courier = new CourierService(new FaultRegistry(), 10_000);
    const abort = new AbortController();
    const call = courier.assign({ id: 'o-1', address: '1 Main St' }, abort.signal);
    abort.abort();
    await assert.rejects(call, (err: unknown) => isCellsimError(err, 'courier_unavailable') && err.name === 'CourierUnavailableError');
  });
});
