import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readSnapshot, writeSnapshot, type Snapshot } from './index.js';

const snap = (n: number): Snapshot => ({
  version: 1,
  savedAt: new Date(0).toISOString(),
  cells: [['c1', { id: 'c1', state: 'active', canary: true, global: false, capacity: 5, version: 'v1' }, 3]],
  markets: Array.from({ length: n }, (_, i): [string, { cell: string; state: 'active'; epoch: number }, number] => [
    `m-${i}`,
    { cell: 'c1', state: 'active', epoch: i },
    i + 10,
  ]),
  endpoints: [{ id: 'e1', cell: 'c1', address: '127.0.0.1', port: 9100, version: 'v1', color: 'blue' }],
});

describe('routing snapshot', () => {
  it('round-trips through an atomic write, markets written in slices', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snap-'));
    for (const n of [0, 1, 12_345]) {
      const path = join(dir, `t-${n}.json`);
      const bytes = await writeSnapshot(path, snap(n));
      assert.equal(bytes, readFileSync(path).length);
      assert.deepEqual(await readSnapshot(path), snap(n));
    }
  });

  it('reads markets one slice at a time and gives the event loop back between slices', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snap-'));
    try {
      const whole = snap(5_000);
      let read = 0;
      const readAtTurn: number[] = [];
      const turns = setInterval(() => readAtTurn.push(read), 0);
      function* markets() {
        for (const m of whole.markets) {
          read++;
          yield m;
        }
      }
      await writeSnapshot(join(dir, 't.json'), { ...whole, markets: markets() });
      clearInterval(turns);
      // A writer that drains the iterable first would let no timer run before every market was read.
      assert.ok(
        readAtTurn.some((n) => n > 0 && n < whole.markets.length),
        `a timer ran mid-write: ${readAtTurn.join(',')}`,
      );
      assert.deepEqual(await readSnapshot(join(dir, 't.json')), whole);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers undefined for a missing file and throws on a corrupt or invalid one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snap-'));
    assert.equal(await readSnapshot(join(dir, 'none.json')), undefined);
    writeFileSync(join(dir, 'bad.json'), '{"version":1,');
    await assert.rejects(readSnapshot(join(dir, 'bad.json')), /not JSON/);
    writeFileSync(join(dir, 'wrong.json'), JSON.stringify({ ...snap(1), markets: [['m', { cell: 'c1', state: 'gone', epoch: 1 }, 1]] }));
    await assert.rejects(readSnapshot(join(dir, 'wrong.json')), /invalid/);
  });
});
