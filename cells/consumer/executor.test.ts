import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyOrderedExecutor } from './executor.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('KeyOrderedExecutor', () => {
  it('runs tasks of one key in submission order and never two at once', async () => {
    const ex = new KeyOrderedExecutor(8);
    const seen = new Map<string, number[]>();
    const running = new Set<string>();
    let overlap = 0;
    const all: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      const key = `k${i % 5}`;
      all.push(
        ex.submit(key, async () => {
          if (running.has(key)) overlap++;
          running.add(key);
          await sleep(Math.random() * 3);
          seen.set(key, [...(seen.get(key) ?? []), i]);
          running.delete(key);
        }),
      );
    }
    await Promise.all(all);
    assert.equal(overlap, 0);
    for (const [, order] of seen)
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
      );
  });

  it('runs different keys in parallel up to the worker count, not beyond', async () => {
    const ex = new KeyOrderedExecutor(4);
    let active = 0;
    let peak = 0;
    const start = Date.now();
    await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        ex.submit(`key-${i}`, async () => {
          active++;
          peak = Math.max(peak, active);
          await sleep(30);
          active--;
        }),
      ),
    );
    assert.equal(peak, 4);
    const took = Date.now() - start;
    assert.ok(took >= 110, `16 tasks of 30 ms on 4 workers took ${took} ms: more than 4 ran at once`);
  });

  it('rejects the failing task only and keeps going with the key', async () => {
    const ex = new KeyOrderedExecutor(2);
    const done: number[] = [];
    const a = ex.submit('k', async () => {
      throw new Error('boom');
    });
    const b = ex.submit('k', async () => void done.push(2));
    await assert.rejects(a, /boom/);
    await b;
    await ex.idle();
    assert.deepEqual(done, [2]);
    assert.equal(ex.size, 0);
  });
});
