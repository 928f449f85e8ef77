import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedValues } from './shared-values.js';

describe('SharedValues', () => {
  it('answers the value added under a key, and starts over past max(1,024, bound)', () => {
    let holders = 0;
    const values = new SharedValues<{ n: number }>(() => holders);
    const one = values.add('a', { n: 1 });
    assert.equal(values.get('a'), one);
    assert.equal(values.get('b'), undefined);
    for (let i = 0; i < 1023; i++) values.add(`k${i}`, { n: i });
    assert.equal(values.get('a'), one, '1,024 entries kept');
    values.add('over', { n: -1 });
    assert.equal(values.get('a'), undefined, 'started over at the bound');
    assert.deepEqual(values.get('over'), { n: -1 });
    holders = 5000;
    for (let i = 0; i < 3000; i++) values.add(`h${i}`, { n: i });
    assert.deepEqual(values.get('h0'), { n: 0 }, 'a bound above 1,024 keeps more');
  });
});
