import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROUTER_NODE_OPTIONS, routerNodeOptions } from './node-options.js';

describe('routerNodeOptions', () => {
  it('adds the semi-space size to whatever NODE_OPTIONS already hold, and keeps an operator’s own size', () => {
    assert.equal(routerNodeOptions(''), ROUTER_NODE_OPTIONS);
    assert.equal(routerNodeOptions(' --enable-source-maps '), `--enable-source-maps ${ROUTER_NODE_OPTIONS}`);
    assert.equal(routerNodeOptions('--max-semi-space-size=32'), '--max-semi-space-size=32');
  });
});
