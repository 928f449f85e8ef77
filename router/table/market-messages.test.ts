/** marketMessages: one markets diff cut into worker messages (no worker, no Consul). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MarketRecord } from '../../shared/kv.js';
import { marketMessages, type MarketsUpdate } from './market-messages.js';
import type { ListingStats, WorkerMessage } from './messages.js';

type MarketsMessage = Extract<WorkerMessage, { type: 'markets' }>;

const rec = (cell: string): MarketRecord => ({ cell, state: 'active', epoch: 1 });
const upserts = (n: number): [string, MarketRecord][] => Array.from({ length: n }, (_, i) => [`m${i}`, rec(`c${i % 3}`)]);
const stats: ListingStats = {
  bytes: 100,
  fetchMs: 1,
  parseMs: 0,
  diffMs: 2,
  entries: 5,
  examined: 5,
  cpuMs: 3,
  workerHeapMb: [10, 20],
};
const update = (o: Partial<MarketsUpdate>): MarketsUpdate => ({
  source: 'consul',
  upserts: [],
  removed: [],
  invalid: [],
  index: 42,
  receivedAt: 1_700_000_000_000,
  complete: true,
  ...o,
});
const messages = (u: MarketsUpdate, chunk: number): MarketsMessage[] =>
  marketMessages(u, chunk).map((m) => {
    if (m.type !== 'markets') assert.fail(`a ${m.type} message`);
    return m;
  });

describe('marketMessages: a markets diff as worker messages', () => {
  it('cuts the upserts into chunks of at most `chunk`, in order, each carrying source, index and receivedAt', () => {
    const u = update({ upserts: upserts(5), source: 'snapshot' });
    const out = messages(u, 2);
    assert.deepEqual(
      out.map((m) => m.upserts.map(([id]) => id)),
      [['m0', 'm1'], ['m2', 'm3'], ['m4']],
    );
    assert.deepEqual(
      out.flatMap((m) => m.upserts),
      u.upserts,
      'every upsert exactly once, records included',
    );
    for (const m of out) {
      assert.equal(m.source, 'snapshot');
      assert.equal(m.index, 42);
      assert.equal(m.receivedAt, 1_700_000_000_000);
    }
  });

  it('sends no empty trailing message when the upserts fill the chunks exactly', () => {
    const out = messages(update({ upserts: upserts(4), removed: ['gone'] }), 2);
    assert.equal(out.length, 2);
    assert.deepEqual(out[1]!.removed, ['gone']);
    assert.equal(out[1]!.last, true);
  });

  it('puts removals, invalid keys and stats on the final message only, and marks only it `last` when complete', () => {
    const invalid = [{ key: 'cellsim/markets/BAD', problems: ['not a market ID'] }];
    const out = messages(update({ upserts: upserts(5), removed: ['r1', 'r2'], invalid, stats }), 2);
    assert.equal(out.length, 3);
    for (const m of out.slice(0, -1)) {
      assert.deepEqual(m.removed, [], 'a removal applied before the last chunk would show a half-applied diff');
      assert.deepEqual(m.invalid, []);
      assert.equal(m.stats, undefined);
      assert.equal(m.last, false);
    }
    const final = out.at(-1)!;
    assert.deepEqual(final.removed, ['r1', 'r2']);
    assert.deepEqual(final.invalid, invalid);
    assert.deepEqual(final.stats, stats);
    assert.equal(final.last, true);
  });

  it('never says `last` (nor sends stats) while the table is not complete; removals still ride on the final message', () => {
    const out = messages(update({ upserts: upserts(3), removed: ['r1'], stats, complete: false }), 2);
    assert.equal(out.length, 2);
    assert.deepEqual(
      out.map((m) => m.last),
      [false, false],
    );
    assert.deepEqual(
      out.map((m) => m.stats),
      [undefined, undefined],
    );
    assert.deepEqual(out[1]!.removed, ['r1']);
  });

  it('still gives one message for an empty diff (it may be the one that completes the table)', () => {
    const done = messages(update({ stats }), 100);
    assert.equal(done.length, 1);
    assert.deepEqual(done[0]!.upserts, []);
    assert.deepEqual(done[0]!.removed, []);
    assert.equal(done[0]!.last, true);
    assert.deepEqual(done[0]!.stats, stats);
    const partial = messages(update({ complete: false }), 100);
    assert.equal(partial.length, 1);
    assert.equal(partial[0]!.last, false);
  });

  it('gives one message for removals alone', () => {
    const out = messages(update({ removed: ['a', 'b'] }), 2);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0]!.removed, ['a', 'b']);
    assert.equal(out[0]!.last, true);
  });
});
