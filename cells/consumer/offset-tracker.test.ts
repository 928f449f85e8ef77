import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OffsetTracker } from './offset-tracker.js';

describe('OffsetTracker', () => {
  it('commits below the lowest running record, and past the highest when none runs', () => {
    const t = new OffsetTracker();
    t.reset([0, 1]);
    const a = t.begin(0, 10);
    const b = t.begin(0, 11);
    const c = t.begin(0, 12);
    t.finish(b);
    t.finish(c);
    assert.deepEqual(t.due(), [{ partition: 0, next: 10, generation: 1 }]);
    t.committed(t.due());
    assert.deepEqual(t.due(), [], 'nothing new to commit');
    t.finish(a);
    assert.deepEqual(t.due(), [{ partition: 0, next: 13, generation: 1 }]);
  });

  it('forgets the old generation: its records finish without moving a position, and an unheld partition is never committed', () => {
    const t = new OffsetTracker();
    t.reset([0]);
    const old = t.begin(0, 5);
    t.reset([1]);
    t.finish(old);
    const other = t.begin(0, 6);
    t.finish(other);
    assert.deepEqual(t.due(), []);
    t.finish(t.begin(1, 0));
    assert.deepEqual(t.due(), [{ partition: 1, next: 1, generation: 2 }]);
    const stale = t.due();
    t.reset([1]);
    t.committed(stale);
    t.finish(t.begin(1, 0));
    assert.deepEqual(t.due(), [{ partition: 1, next: 1, generation: 3 }], 'a commit of an old generation does not count');
  });

  it('keeps a record read twice running until both finished', () => {
    const t = new OffsetTracker();
    t.reset([0]);
    const x = t.begin(0, 3);
    const y = t.begin(0, 3);
    t.finish(x);
    assert.deepEqual(t.due(), [{ partition: 0, next: 3, generation: 1 }]);
    t.finish(y);
    assert.deepEqual(t.due(), [{ partition: 0, next: 4, generation: 1 }]);
  });
});
