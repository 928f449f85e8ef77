import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HoldQueue } from './index.js';

describe('hold queue', () => {
  it('releases every waiter of a market on release, and only that market', async () => {
    const h = new HoldQueue({ holdMs: 5000 });
    const a1 = h.wait('a');
    const a2 = h.wait('a');
    const b = h.wait('b', 30);
    assert.equal(h.size, 3);
    assert.equal(h.release('a'), 2);
    assert.deepEqual(await Promise.all([a1, a2]), ['released', 'released']);
    assert.equal(await b, 'timeout');
    assert.equal(h.size, 0);
  });

  it('answers full at once past the bound per market and in total', async () => {
    const h = new HoldQueue({ holdMs: 50, maxPerMarket: 2, maxTotal: 3 });
    const waits = [h.wait('a'), h.wait('a')];
    assert.equal(await h.wait('a'), 'full');
    waits.push(h.wait('b'));
    assert.equal(await h.wait('c'), 'full');
    assert.deepEqual(await Promise.all(waits), ['timeout', 'timeout', 'timeout']);
  });

  it('stops waiting when the client goes away', async () => {
    const h = new HoldQueue({ holdMs: 5000 });
    const ac = new AbortController();
    const w = h.wait('a', 5000, ac.signal);
    ac.abort();
    assert.equal(await w, 'aborted');
    assert.equal(h.size, 0);
  });
});
