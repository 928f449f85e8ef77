/** The console's one poll per control plane: shared by every listener and by page renders, stopped when nobody listens. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../shared/logger.js';
import { Feed } from './feed.js';
import type { Snapshot } from './snapshot.js';

const snap = (seq: number) => ({ seq, at: new Date().toISOString() }) as Snapshot;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('console feed', () => {
  it('polls once per interval whatever the number of listeners, hands each poll to all, and stops with the last listener', async () => {
    let reads = 0;
    const feed = new Feed({ read: async (seq) => (reads++, snap(seq)), log: createLogger('test', {}), intervalMs: 50 });
    const got: number[][] = Array.from({ length: 10 }, () => []);
    const offs = got.map((list) => feed.subscribe((s) => list.push(s.seq)));
    await sleep(275);
    const polled = reads;
    assert.ok(polled >= 4 && polled <= 7, `${polled} reads in 275 ms at 50 ms for 10 listeners`);
    for (const list of got) assert.deepEqual(list, got[0], 'every listener saw the same polls');
    for (const off of offs) off();
    await sleep(150);
    assert.equal(reads, polled, 'no poll without a listener');
    feed.close();
  });

  it('lets a page take the latest poll while fresh and joins a read in flight', async () => {
    let reads = 0;
    const feed = new Feed({
      read: async (seq) => {
        reads++;
        await sleep(20);
        return snap(seq);
      },
      log: createLogger('test', {}),
    });
    const [a, b] = await Promise.all([feed.latest(), feed.latest()]);
    assert.equal(a, b);
    assert.equal(reads, 1, 'two renders at once, one read');
    assert.equal(await feed.latest(), a, 'fresh: no read');
    assert.equal(reads, 1);
    feed.close();
  });
});
