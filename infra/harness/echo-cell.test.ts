import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SERVICE_CELL } from '../../shared/consul-watch.js';
import { CELL_SERVICE } from './echo-cell.js';

describe('echo cell', () => {
  it("registers under the cells' own Consul service name", () => {
    assert.equal(CELL_SERVICE, SERVICE_CELL);
  });
});
