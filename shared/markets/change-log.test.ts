import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHANGE_LOG_SIZE, ChangeLogSchema, EMPTY_CHANGE_LOG, appendChanges, changesSince } from './change-log.js';

describe('market change log', () => {
  it('keeps the last CHANGE_LOG_SIZE markets with the sequence of the last one', () => {
    let log = appendChanges(EMPTY_CHANGE_LOG, ['a', 'b']);
    assert.deepEqual(log, { seq: 2, markets: ['a', 'b'] });
    log = appendChanges(
      log,
      Array.from({ length: CHANGE_LOG_SIZE }, (_, i) => `m-${i}`),
    );
    assert.equal(log.seq, CHANGE_LOG_SIZE + 2);
    assert.equal(log.markets.length, CHANGE_LOG_SIZE);
    assert.equal(log.markets.at(-1), `m-${CHANGE_LOG_SIZE - 1}`);
    assert.ok(ChangeLogSchema.safeParse(log).success);
  });

  it('names the markets changed since a position, each once, in the order of their last change', () => {
    const log = { seq: 10, markets: ['a', 'b', 'a', 'c', 'b'] }; // changes 6..10
    assert.deepEqual(changesSince(log, 10), { kind: 'changes', markets: [] });
    assert.deepEqual(changesSince(log, 8), { kind: 'changes', markets: ['c', 'b'] });
    assert.deepEqual(changesSince(log, 5), { kind: 'changes', markets: ['a', 'c', 'b'] });
  });

  it('reports a gap (more changes than it holds) and a reset (a sequence that went back)', () => {
    const log = { seq: 10, markets: ['a', 'b'] };
    assert.deepEqual(changesSince(log, 7), { kind: 'gap' });
    assert.deepEqual(changesSince(log, 11), { kind: 'reset' });
  });

  it('refuses a log that is not one: bad IDs, more markets than changes, too many', () => {
    assert.equal(ChangeLogSchema.safeParse({ seq: 1, markets: ['Bad_Id'] }).success, false);
    assert.equal(ChangeLogSchema.safeParse({ seq: 1, markets: ['a', 'b'] }).success, false);
    assert.equal(ChangeLogSchema.safeParse({ seq: 999, markets: Array.from({ length: CHANGE_LOG_SIZE + 1 }, () => 'a') }).success, false);
    assert.equal(ChangeLogSchema.safeParse({ seq: 1, markets: ['a'], extra: 1 }).success, false);
  });
});
