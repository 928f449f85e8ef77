import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { marketLag, type AppendRecord, type EventLog, type LogRecord } from './types.js';

/** An in-memory log of two partitions, records placed by the test. */
function memoryLog(parts: AppendRecord[][], committed: number[], readable = true): EventLog {
  const recs = parts.map((p, partition) => p.map((r, offset): LogRecord => ({ ...r, partition, offset })));
  return {
    partitions: parts.length,
    partitionFor: () => 0,
    append: async () => undefined,
    read: async (p, from, max) => (readable ? recs[p]!.filter((r) => r.offset >= from).slice(0, max) : []),
    committed: async (_g, p) => committed[p]!,
    commit: async () => undefined,
    endOffset: async (p) => recs[p]!.length,
  };
}

const rec = (market: string, n: number): AppendRecord => ({
  key: `o${n}`,
  market,
  eventId: `e${n}`,
  type: 'order.created',
  payload: '{}',
  createdAt: 0,
});

describe('marketLag: a market’s records its consumer group has not committed', () => {
  it('counts only that market’s records past each partition’s committed offset', async () => {
    const log = memoryLog(
      [
        [rec('a', 1), rec('b', 2), rec('a', 3), rec('a', 4)],
        [rec('b', 5), rec('a', 6)],
      ],
      [2, 0],
    );
    assert.equal(await marketLag(log, 'g', 'a'), 3); // offsets 2 and 3 of partition 0, offset 1 of partition 1
    assert.equal(await marketLag(log, 'g', 'b'), 1);
    assert.equal(await marketLag(log, 'g', 'c'), 0);
  });

  it('never counts less than the truth: past the cap, or when nothing can be read, the rest counts whole', async () => {
    const many = Array.from({ length: 10 }, (_, i) => rec(i < 3 ? 'a' : 'b', i));
    assert.equal(await marketLag(memoryLog([many], [0]), 'g', 'a', 4), 3 + 6, '3 of a in the 4 read, then the 6 unread');
    assert.equal(await marketLag(memoryLog([many], [0], false), 'g', 'a'), 10, 'unreadable: all 10');
    assert.equal(await marketLag(memoryLog([many], [10]), 'g', 'a'), 0, 'all committed');
  });
});
