import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SERVICE_CELL } from '../../shared/consul-watch.js';
import { experimentBucket } from '../../shared/experiment.js';
import { contractBucket } from './contract-share-move.js';
import { EDGE_REDIRECT_HEADER as CELLS_EDGE_HEADER } from '../../shared/market.js';
import { CELL_SERVICE, EDGE_REDIRECT_HEADER } from './echo-cell.js';

describe('echo cell', () => {
  it("registers under the cells' own Consul service name", () => {
    assert.equal(CELL_SERVICE, SERVICE_CELL);
  });

  it("answers a frozen market's write by the header the cells read", () => {
    assert.equal(EDGE_REDIRECT_HEADER, CELLS_EDGE_HEADER);
  });

  it("the shareMove case's bucket oracle is shared/experiment.ts's bucket", () => {
    for (const key of ['', 'a', 'foobar', 'cust-1', 'ünïcode-7', ...Array.from({ length: 1000 }, (_, i) => `k-${i}`)]) {
      assert.equal(contractBucket(key), experimentBucket(key), key);
    }
  });
});
