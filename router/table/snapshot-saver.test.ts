/** SnapshotSaver: debounced, complete-only snapshot writes, on fake timers and a fake writer (no disk, no Consul). */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { SnapshotSource } from '../snapshot/index.js';
import { SnapshotSaver } from './snapshot-saver.js';

/** Lets every pending promise callback run (setImmediate is not faked). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Write {
  path: string;
  snap: SnapshotSource;
  /** Ends the write (bytes written) or fails it. */
  done(bytes?: number): void;
  fail(err: Error): void;
}

/** A saver over fake time (setTimeout, Date and performance.now move only with `tick`) and a writer the test ends by hand. */
function rig(t: TestContext, o: { debounceMs?: number; complete?: () => boolean } = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  t.mock.method(performance, 'now', () => Date.now());
  const writes: Write[] = [];
  const saved: { bytes: number; ms: number }[] = [];
  const failed: Error[] = [];
  let version = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const saver = new SnapshotSaver({
    path: '/nowhere/table.json',
    debounceMs: o.debounceMs ?? 100,
    complete: o.complete ?? (() => true),
    collect: () => ({ cells: [], markets: [[`v${version}`, { cell: 'c1', state: 'active', epoch: version }, version]], endpoints: [] }),
    saved: (bytes, ms) => void saved.push({ bytes, ms }),
    failed: (err) => void failed.push(err),
    write: (path, snap) =>
      new Promise<number>((resolve, reject) => {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        const end = () => void inFlight--;
        writes.push({ path, snap, done: (bytes = 10) => (end(), resolve(bytes)), fail: (err) => (end(), reject(err)) });
      }),
  });
  return {
    saver,
    writes,
    saved,
    failed,
    /** The table changes (the next collect sees version `v`) and the saver is told. */
    change(v: number) {
      version = v;
      saver.schedule();
    },
    /** Which table version each write carried. */
    versions: () => writes.map((w) => [...w.snap.markets][0]![2]),
    /** The most writes that were ever in progress at once. */
    maxInFlight: () => maxInFlight,
    async tick(ms: number) {
      t.mock.timers.tick(ms);
      await settle();
    },
  };
}

describe('SnapshotSaver: debounced writes of the last complete table', () => {
  it('writes once, debounceMs after the first change, whatever came in between, with the table as of the write', async (t) => {
    const r = rig(t, { debounceMs: 100 });
    r.change(1);
    await r.tick(50);
    r.change(2);
    r.change(3);
    await r.tick(49);
    assert.equal(r.writes.length, 0, 'nothing before the debounce');
    await r.tick(1);
    assert.equal(r.writes.length, 1);
    assert.deepEqual(r.versions(), [3]);
    const w = r.writes[0]!;
    assert.equal(w.path, '/nowhere/table.json');
    assert.equal(w.snap.version, 1);
    assert.equal(w.snap.savedAt, new Date(1_000_100).toISOString());
    w.done(1234);
    await r.tick(0);
    assert.deepEqual(
      r.saved.map((s) => s.bytes),
      [1234],
    );
    await r.tick(10_000);
    assert.equal(r.writes.length, 1, 'no change since: no second write');
  });

  it('never writes an incomplete table: stays dirty, and writes once complete() is true and schedule() is called again', async (t) => {
    let complete = false;
    const r = rig(t, { debounceMs: 100, complete: () => complete });
    r.change(1);
    await r.tick(1000);
    assert.equal(r.writes.length, 0, 'cells without markets would be loaded as a whole table after a restart');
    await r.saver.flush();
    assert.equal(r.writes.length, 0, 'not at stop either');
    complete = true;
    r.saver.schedule(); // the answer that completes the table (no change of its own needed)
    await r.tick(100);
    assert.deepEqual(r.versions(), [1]);
  });

  it('a change during a write gives exactly one more write, after it, with the newest table', async (t) => {
    const r = rig(t, { debounceMs: 100 });
    r.change(1);
    await r.tick(100);
    assert.equal(r.writes.length, 1);
    r.change(2);
    await r.tick(50);
    r.change(3);
    await r.tick(50);
    assert.equal(r.writes.length, 1, 'never two writes of one file at once');
    r.writes[0]!.done();
    await r.tick(0);
    await r.tick(1000);
    assert.deepEqual(r.versions(), [1, 3]);
    r.writes[1]!.done();
    await r.tick(10_000);
    assert.equal(r.writes.length, 2);
    assert.equal(r.maxInFlight(), 1);
  });

  it('flush() writes a pending change at once, waits for a write in progress, and writes nothing when clean', async (t) => {
    const r = rig(t, { debounceMs: 100 });
    await r.saver.flush();
    assert.equal(r.writes.length, 0, 'clean: nothing to write');
    r.change(1);
    const flushed = r.saver.flush();
    await settle();
    assert.deepEqual(r.versions(), [1], 'written without waiting for the debounce');
    r.writes[0]!.done();
    await flushed;
    await r.tick(10_000);
    assert.equal(r.writes.length, 1, 'the debounce timer flush() replaced writes nothing more');

    r.change(2);
    await r.tick(100);
    assert.equal(r.writes.length, 2, 'a write in progress');
    r.change(3);
    let done = false;
    const second = r.saver.flush().then(() => (done = true));
    await settle();
    assert.equal(r.writes.length, 2, 'waits for the write in progress');
    r.writes[1]!.done();
    await settle();
    assert.deepEqual(r.versions(), [1, 2, 3], 'then writes the change made meanwhile');
    assert.equal(done, false, 'flush() ends when that write has');
    r.writes[2]!.done();
    await second;
    assert.equal(done, true);
  });

  it('after flush() has written, a later change is debounced again and written once', async (t) => {
    const r = rig(t, { debounceMs: 100 });
    r.change(1);
    await r.tick(100);
    r.change(2); // during the write
    const flushed = r.saver.flush();
    r.writes[0]!.done();
    await settle();
    r.writes[1]!.done();
    await flushed;
    assert.deepEqual(r.versions(), [1, 2]);
    await r.tick(50);
    r.change(3);
    await r.tick(99);
    assert.equal(r.writes.length, 2, 'nothing before the debounce of the new change');
    await r.tick(1);
    assert.deepEqual(r.versions(), [1, 2, 3]);
    r.writes[2]!.done();
    await r.tick(10_000);
    assert.equal(r.writes.length, 3);
    assert.equal(r.maxInFlight(), 1);
  });

  it('reports a failed write through failed() (not saved), and the next change writes again', async (t) => {
    const r = rig(t, { debounceMs: 100 });
    r.change(1);
    await r.tick(100);
    r.writes[0]!.fail(new Error('ENOSPC: no space left on device'));
    await r.tick(0);
    assert.deepEqual(
      r.failed.map((e) => e.message),
      ['ENOSPC: no space left on device'],
    );
    assert.equal(r.saved.length, 0);
    r.change(2);
    await r.tick(100);
    assert.deepEqual(r.versions(), [1, 2]);
    r.writes[1]!.done(77);
    await r.tick(0);
    assert.deepEqual(
      r.saved.map((s) => s.bytes),
      [77],
    );
  });

  it('leaves 5x the last write’s duration between writes (at most 1 s), never less than the debounce', async (t) => {
    const r = rig(t, { debounceMs: 10 });
    r.change(1);
    await r.tick(10);
    await r.tick(100); // the write takes 100 ms
    r.writes[0]!.done();
    await r.tick(0);
    assert.deepEqual(
      r.saved.map((s) => s.ms),
      [100],
    );
    r.change(2);
    await r.tick(499);
    assert.equal(r.writes.length, 1, '5 × 100 ms after the last write ended');
    await r.tick(1);
    assert.equal(r.writes.length, 2);

    await r.tick(300); // this one takes 300 ms: 1500 ms, capped at 1 s
    r.writes[1]!.done();
    await r.tick(0);
    r.change(3);
    await r.tick(999);
    assert.equal(r.writes.length, 2);
    await r.tick(1);
    assert.equal(r.writes.length, 3);
    r.writes[2]!.done(); // instant: the debounce alone again
    await r.tick(0);
    await r.tick(2000);
    r.change(4);
    await r.tick(9);
    assert.equal(r.writes.length, 3);
    await r.tick(1);
    assert.equal(r.writes.length, 4);
  });
});
