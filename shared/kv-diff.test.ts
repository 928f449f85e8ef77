import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvPrefixDiff, type RawKvItem } from './kv-diff.js';
import { isMarketId } from './market.js';
import { KvLayout, MarketRecordSchema, decodeJson, type MarketRecord } from './kv.js';

const layout = new KvLayout();
/** A raw Consul item: its key may be anything Consul holds (KvLayout builds keys of valid IDs only). */
const item = (m: string, value: string, idx: number): RawKvItem => ({
  Key: `${layout.marketsPrefix}${m}`,
  Value: Buffer.from(value).toString('base64'),
  ModifyIndex: idx,
});
const rec = (cell: string, epoch = 1) => JSON.stringify({ cell, state: 'active', epoch });

function differ() {
  return new KvPrefixDiff<MarketRecord>(layout.marketsPrefix, isMarketId, (t) => decodeJson(MarketRecordSchema, t));
}

describe('KV prefix diff', () => {
  it('leaves the held records untouched by a listing cut short, so the next listing still reports its keys', () => {
    const d = differ();
    d.apply([item('a', rec('c1'), 1)]);
    const text = JSON.stringify([item('a', rec('c1'), 1), item('b', rec('c2'), 5), item('c', rec('c2'), 6)]);
    const cut = d.reader(7, 'full');
    cut.push(text.slice(0, text.lastIndexOf('"Key":'))); // a and b arrived, then the query was aborted
    assert.deepEqual(
      d.records().map((r) => r[0]),
      ['a'],
      'b is not held before its listing ended',
    );
    const again = d.applyText(text, 7);
    assert.deepEqual(
      again.upserts.map((u) => u[0]),
      ['b', 'c'],
    );
  });

  it('examines only entries whose ModifyIndex moved, and reports moves and removals', () => {
    const d = differ();
    const first = d.apply([item('a', rec('c1'), 1), item('b', rec('c1'), 2), item('c', rec('c2'), 3)]);
    assert.equal(first.upserts.length, 3);
    const next = d.apply([item('a', rec('c1'), 1), item('b', rec('c2', 2), 9)]);
    assert.equal(next.examined, 1);
    assert.deepEqual(next.upserts, [['b', { cell: 'c2', state: 'active', epoch: 2 }]]);
    assert.deepEqual(next.removed, ['c']);
    assert.equal(d.size, 2);
  });

  it('keeps the last good record of a key whose new value is garbage, and reports it', () => {
    const d = differ();
    d.apply([item('a', rec('c1'), 1)]);
    const bad = d.apply([item('a', '{not json', 2), item('Bad_Key', rec('c1'), 3)]);
    assert.equal(bad.upserts.length, 0);
    assert.deepEqual(bad.removed, []);
    assert.equal(bad.invalid.length, 2);
    assert.match(bad.invalid[0]!.problems[0]!, /not JSON/);
    assert.deepEqual(d.records(), [['a', { cell: 'c1', state: 'active', epoch: 1 }, 2]]);
    const fixed = d.apply([item('a', rec('c3', 2), 4)]);
    assert.deepEqual(fixed.upserts, [['a', { cell: 'c3', state: 'active', epoch: 2 }]]);
  });

  it('rejects a record with a wrong shape and never adds a key that was never valid', () => {
    const d = differ();
    const r = d.apply([item('a', JSON.stringify({ cell: 'c1', state: 'moving', epoch: -1 }), 1)]);
    assert.equal(r.upserts.length, 0);
    assert.equal(r.invalid[0]!.problems.length, 2);
    assert.equal(d.size, 0);
  });

  it('treats seeded (snapshot) records as last good and diffs the first listing against them', () => {
    const d = differ();
    d.seed([['a', { cell: 'c1', state: 'active', epoch: 1 }, 5]]);
    const r = d.apply([item('a', rec('c1'), 5), item('b', rec('c2'), 6)]);
    assert.equal(r.examined, 1);
    assert.deepEqual(
      r.upserts.map(([id]) => id),
      ['b'],
    );
  });
});

describe('KV listing scan', () => {
  it('reads Consul listing text like JSON.parse does, and falls back on anything unusual', () => {
    const items = [item('a', rec('c1'), 11), item('b', rec('c2'), 12)];
    const withNull = [...items, { Key: layout.marketKey('c'), Value: null, ModifyIndex: 13 }];
    const text = JSON.stringify(
      withNull.map((i) => ({ LockIndex: 0, Key: i.Key, Flags: 0, Value: i.Value, CreateIndex: 1, ModifyIndex: i.ModifyIndex })),
    );
    const viaText = differ().applyText(text);
    const viaJson = differ().apply(withNull);
    assert.deepEqual(viaText, viaJson);
    assert.equal(viaText.upserts.length, 2);
    assert.equal(viaText.invalid.length, 1, 'the null value is reported');
    const escaped = JSON.stringify([{ LockIndex: 0, Key: 'cellsim/markets/a"b', Flags: 0, Value: null, CreateIndex: 1, ModifyIndex: 2 }]);
    assert.equal(differ().applyText(escaped).invalid.length, 1, 'escaped key handled through JSON.parse');
    assert.deepEqual(differ().applyText('[]'), { upserts: [], removed: [], invalid: [], examined: 0 });
  });
});

describe('KV listing fast path', () => {
  const listing = (entries: [string, string | null, number][]) =>
    JSON.stringify(
      entries.map(([m, v, idx]) => ({
        LockIndex: 0,
        Key: layout.marketKey(m),
        Flags: 0,
        Value: v === null ? null : Buffer.from(v).toString('base64'),
        CreateIndex: 1,
        ModifyIndex: idx,
      })),
    );

  it('finds a move, a new key, a deletion and an index reset like the full scan does', () => {
    const d = differ();
    d.applyText(
      listing([
        ['a', rec('c1'), 5],
        ['b', rec('c1'), 6],
        ['c', rec('c1'), 7],
      ]),
      7,
    );
    const move = d.applyText(
      listing([
        ['a', rec('c1'), 5],
        ['b', rec('c2', 2), 9],
        ['c', rec('c1'), 7],
      ]),
      9,
    );
    assert.deepEqual(move.upserts, [['b', { cell: 'c2', state: 'active', epoch: 2 }]]);
    assert.equal(move.examined, 1);
    const added = d.applyText(
      listing([
        ['a', rec('c1'), 5],
        ['b', rec('c2', 2), 9],
        ['c', rec('c1'), 7],
        ['d', rec('c3'), 10],
      ]),
      10,
    );
    assert.deepEqual(
      added.upserts.map(([id]) => id),
      ['d'],
    );
    const deleted = d.applyText(
      listing([
        ['a', rec('c1'), 5],
        ['b', rec('c2', 2), 9],
        ['d', rec('c3'), 10],
      ]),
      11,
    );
    assert.deepEqual(deleted.removed, ['c']);
    const addAndDelete = d.applyText(
      listing([
        ['b', rec('c2', 2), 9],
        ['d', rec('c3'), 10],
        ['e', rec('c1'), 12],
      ]),
      12,
    );
    assert.deepEqual(addAndDelete.removed, ['a']);
    assert.deepEqual(
      addAndDelete.upserts.map(([id]) => id),
      ['e'],
    );
    // A Consul reset: indexes restart low, values differ; the full scan catches it.
    const reset = d.applyText(
      listing([
        ['b', rec('c9', 1), 3],
        ['d', rec('c3'), 10],
        ['e', rec('c1'), 12],
      ]),
      4,
    );
    assert.deepEqual(
      reset.upserts.map(([id]) => id),
      ['b'],
    );
    assert.deepEqual(
      d.records().map(([id, r]) => [id, r.cell]),
      [
        ['b', 'c9'],
        ['d', 'c3'],
        ['e', 'c1'],
      ],
    );
  });
});

describe('KV listing scan of pretty-printed JSON (Consul dev mode)', () => {
  it('reads the same entries as JSON.parse', () => {
    const items = [item('a', rec('c1'), 11), { Key: layout.marketKey('b'), Value: null, ModifyIndex: 12 }];
    const text = JSON.stringify(
      items.map((i) => ({ LockIndex: 0, Key: i.Key, Flags: 0, Value: i.Value, CreateIndex: 1, ModifyIndex: i.ModifyIndex })),
      null,
      4,
    );
    const d = differ();
    assert.deepEqual(d.applyText(text, 12), differ().apply(items));
    const moved = JSON.stringify(
      [
        {
          LockIndex: 0,
          Key: layout.marketKey('a'),
          Flags: 0,
          Value: Buffer.from(rec('c2', 2)).toString('base64'),
          CreateIndex: 1,
          ModifyIndex: 20,
        },
        JSON.parse(text)[1],
      ],
      null,
      4,
    );
    const diff = d.applyText(moved, 20);
    assert.deepEqual(diff.upserts, [['a', { cell: 'c2', state: 'active', epoch: 2 }]]);
    assert.equal(diff.examined, 1);
  });
});

describe('KV listing reader', () => {
  it('gives the same diff whatever the chunking', () => {
    const text = JSON.stringify(
      [item('a', rec('c1'), 11), item('b', rec('c2'), 12), item('c', rec('c3'), 13)].map((i) => ({
        LockIndex: 0,
        Key: i.Key,
        Flags: 0,
        Value: i.Value,
        CreateIndex: 1,
        ModifyIndex: i.ModifyIndex,
      })),
      null,
      2,
    );
    const whole = differ().applyText(text, 13);
    for (const size of [1, 7, 64]) {
      const d = differ();
      const r = d.reader(13);
      for (let i = 0; i < text.length; i += size) r.push(text.slice(i, i + size));
      assert.deepEqual(r.end(), whole, `chunks of ${size}`);
    }
  });

  it('reads the first listing after a snapshot seed in full, so indexes of another Consul cannot hide a change', () => {
    const d = differ();
    d.seed([['a', { cell: 'c1', state: 'active', epoch: 1 }, 50]]);
    const text = JSON.stringify([
      { LockIndex: 0, Key: layout.marketKey('a'), Flags: 0, Value: item('a', rec('c2', 2), 3).Value, CreateIndex: 1, ModifyIndex: 3 },
    ]);
    assert.deepEqual(d.applyText(text, 3).upserts, [['a', { cell: 'c2', state: 'active', epoch: 2 }]]);
  });
});

describe('KV listing reader, fast path in chunks', () => {
  it('finds the moved entry whatever the chunking, and detects a deletion', () => {
    const entries = (moved: boolean, drop = false) =>
      JSON.stringify(
        [
          item('a', rec('c1'), 11),
          item('b', moved ? rec('c9', 2) : rec('c2'), moved ? 20 : 12),
          ...(drop ? [] : [item('c', rec('c3'), 13)]),
        ].map((i) => ({ LockIndex: 0, Key: i.Key, Flags: 0, Value: i.Value, CreateIndex: 1, ModifyIndex: i.ModifyIndex })),
        null,
        4,
      );
    for (const size of [1, 5, 33, 10_000]) {
      const d = differ();
      d.applyText(entries(false), 13);
      const r = d.reader(20);
      const text = entries(true);
      for (let i = 0; i < text.length; i += size) r.push(text.slice(i, i + size));
      const diff = r.end();
      assert.deepEqual(diff?.upserts, [['b', { cell: 'c9', state: 'active', epoch: 2 }]], `chunks of ${size}`);
      assert.equal(diff?.examined, 1);
      const gone = d.reader(21);
      gone.push(entries(true, true));
      assert.equal(gone.end(), undefined, 'a deletion asks for a full read');
    }
  });
});

describe('KV prefix diff, keys that name no valid ID', () => {
  const listing = (entries: [string, string | null, number][]) =>
    JSON.stringify(
      entries.map(([k, v, idx]) => ({
        LockIndex: 0,
        Key: k,
        Flags: 0,
        Value: v === null ? null : Buffer.from(v).toString('base64'),
        CreateIndex: 1,
        ModifyIndex: idx,
      })),
    );
  const a = layout.marketKey('a');
  const odd = `${layout.marketsPrefix}Bad_Key`; // KvLayout builds no key from an invalid ID

  it('counts them on the fast path, never reports them as markets, and reports one again once it was deleted and re-added', () => {
    const d = differ();
    const first = d.applyText(
      listing([
        [a, rec('c1'), 5],
        [odd, rec('c1'), 6],
      ]),
      6,
    );
    assert.deepEqual(
      first.invalid.map((i) => i.key),
      [odd],
    );
    assert.equal(d.size, 1);
    const fast = d.reader(9);
    fast.push(
      listing([
        [a, rec('c2', 2), 9],
        [odd, rec('c1'), 6],
      ]),
    );
    const moved = fast.end();
    assert.ok(moved, 'the fast path decides: the odd key is counted as held');
    assert.deepEqual(moved.upserts, [['a', { cell: 'c2', state: 'active', epoch: 2 }]]);
    assert.deepEqual(moved.invalid, [], 'reported once, not on every listing');
    const gone = d.applyText(listing([[a, rec('c2', 2), 9]]), 10);
    assert.deepEqual(gone.removed, [], 'an odd key is no market: its deletion removes none');
    const back = d.applyText(
      listing([
        [a, rec('c2', 2), 9],
        [odd, rec('c1'), 11],
      ]),
      11,
    );
    assert.deepEqual(
      back.invalid.map((i) => i.key),
      [odd],
    );
  });

  it('holds records seeded by ID and diffs a listing of their keys against them', () => {
    const d = differ();
    d.seed([
      ['a', { cell: 'c1', state: 'active', epoch: 1 }, 5],
      ['b', { cell: 'c1', state: 'active', epoch: 1 }, 6],
    ]);
    const r = d.applyText(listing([[a, rec('c1'), 5]]), 7);
    assert.deepEqual(r.upserts, []);
    assert.deepEqual(r.removed, ['b']);
    assert.deepEqual(d.records(), [['a', { cell: 'c1', state: 'active', epoch: 1 }, 5]]);
  });
});

describe('KV prefix diff: point reads (shared/markets/follower.ts)', () => {
  const b64 = (v: string) => Buffer.from(v).toString('base64');
  const text = (items: RawKvItem[]) =>
    JSON.stringify(items.map((i) => ({ Key: i.Key, Flags: 0, Value: i.Value, CreateIndex: 1, ModifyIndex: i.ModifyIndex })));

  it('a listing older than a point read neither undoes it nor brings back a key it found deleted', () => {
    const d = differ();
    d.applyText(text([item('a', rec('c1'), 5), item('b', rec('c1'), 6)]), 6);
    assert.deepEqual(d.applyPoint('a', b64(rec('c2', 2)), 10).upserts, [['a', { cell: 'c2', state: 'active', epoch: 2 }]]);
    assert.deepEqual(d.applyPoint('b', undefined, 11).removed, ['b']);
    assert.deepEqual(d.applyPoint('c', b64(rec('c3')), 12).upserts, [['c', { cell: 'c3', state: 'active', epoch: 1 }]]);
    // a listing taken at index 9, before the three reads, arrives afterwards
    const stale = d.applyText(text([item('a', rec('c1'), 5), item('b', rec('c1'), 6)]), 9);
    assert.deepEqual(stale, { upserts: [], removed: [], invalid: [], examined: 0 });
    assert.equal(d.get('a')?.cell, 'c2');
    assert.equal(d.get('b'), undefined);
    assert.equal(d.get('c')?.cell, 'c3', 'a key created after the listing is no deletion');
    // a listing at least as new as the reads is the truth again
    const fresh = d.applyText(text([item('a', rec('c4', 3), 13)]), 13);
    assert.deepEqual(fresh.upserts, [['a', { cell: 'c4', state: 'active', epoch: 3 }]]);
    assert.deepEqual(fresh.removed, ['c']);
  });

  it('a point read older than what is held changes nothing; after a seed it replaces', () => {
    const d = differ();
    d.applyText(text([item('a', rec('c1', 4), 20)]), 20);
    assert.deepEqual(d.applyPoint('a', b64(rec('c9')), 15).upserts, [], 'older than the listing');
    assert.equal(d.get('a')?.epoch, 4);
    const seeded = differ();
    seeded.seed([['a', { cell: 'c1', state: 'active', epoch: 4 }, 900]]);
    assert.deepEqual(
      seeded.applyPoint('a', b64(rec('c9')), 15).upserts,
      [['a', { cell: 'c9', state: 'active', epoch: 1 }]],
      'indexes of a snapshot may come from another Consul',
    );
  });

  it('the fast path floor is the last listing, not a point read: a direct write below a later point read is still seen', () => {
    const d = differ();
    d.applyText(text([item('a', rec('c1'), 5), item('b', rec('c1'), 6)]), 6);
    d.applyPoint('b', b64(rec('c2', 2)), 30); // a logged write at 30
    // a write without the log at 20 (below the point read), seen by the next listing
    const next = d.applyText(text([item('a', rec('c3', 2), 20), item('b', rec('c2', 2), 30)]), 30);
    assert.deepEqual(next.upserts, [['a', { cell: 'c3', state: 'active', epoch: 2 }]]);
  });
});
