/**
 * The delta variant's diff (`delta.ts`) without a stream: what a reply reads of a type's
 * resources. At 100,000 markets a walk of every scope on each ACK held the control plane's
 * event loop for tens of milliseconds per move (docs/market-follower.md §Measured), so a
 * client that holds the type snapshot, or its base, must cost only the changed names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Snapshot, TypeSnapshot } from '../cache/snapshot.js';
import type { Resource } from '../resources/resource.js';
import { SCOPED_ROUTE } from '../resources/type-urls.js';
import { deltaVariant } from './delta.js';
import { snapshotOf } from './fake-call.test-helper.js';

/** A resource map that counts every read of it. */
class CountingMap extends Map<string, Resource> {
  reads = 0;
  override get(k: string) {
    this.reads++;
    return super.get(k);
  }
  override has(k: string) {
    this.reads++;
    return super.has(k);
  }
  override keys() {
    this.reads += this.size;
    return super.keys();
  }
}

const NAMES = Array.from({ length: 1000 }, (_, i) => `market:m-${i}`);

/** A type snapshot over counted items, with an optional one-step delta from `base`. */
function typeSnap(version: string, tag: string, delta?: TypeSnapshot['delta']): TypeSnapshot & { items: CountingMap } {
  const real = snapshotOf({ [SCOPED_ROUTE]: NAMES }, tag).type(SCOPED_ROUTE);
  return { version, items: new CountingMap(real.items), bytes: real.bytes, mix: real.mix, delta };
}

const snapWith = (ts: TypeSnapshot) => ({ type: () => ts }) as unknown as Snapshot;

/** A scope `name` as a move changes it (another version than the one `typeSnap` holds). */
const moved = (name: string) =>
  snapshotOf({ [SCOPED_ROUTE]: [name] }, 'moved')
    .type(SCOPED_ROUTE)
    .items.get(name)!;

/** A wildcard delta client that was sent `v1` whole and ACKed it. */
function clientHolding() {
  const v = deltaVariant('cp-test', 100_000);
  const st = v.open(SCOPED_ROUTE, { resource_names_subscribe: ['*'] });
  const ts1 = typeSnap('v1', '');
  const first = v.reply(SCOPED_ROUTE, st, snapWith(ts1));
  if (first.kind !== 'send') throw new Error('the first reply sends');
  st.force = false;
  v.accept(st, { nonce: 'n-1', version: first.version, changedAt: 0, extra: first.extra }, {});
  return { v, st, ts1 };
}

describe('delta diff: what a reply reads', () => {
  it('sends everything once, then after the ACK of that very snapshot reads no resource', () => {
    const v = deltaVariant('cp-test', 100_000);
    const st = v.open(SCOPED_ROUTE, { resource_names_subscribe: ['*'] });
    const ts = typeSnap('v1', '');
    const first = v.reply(SCOPED_ROUTE, st, snapWith(ts));
    assert.equal(first.kind, 'send');
    if (first.kind !== 'send') return;
    assert.equal(first.response.resources.length, NAMES.length);
    st.force = false;
    v.accept(st, { nonce: 'n-1', version: first.version, changedAt: 0, extra: first.extra }, {});
    ts.items.reads = 0;
    assert.deepEqual(v.reply(SCOPED_ROUTE, st, snapWith(ts)), { kind: 'current' });
    assert.equal(ts.items.reads, 0, 'a client holding the snapshot costs no read of its resources');
  });

  it('a step from the snapshot the client holds reads only the changed names', () => {
    const { v, st, ts1 } = clientHolding();
    const ts2 = typeSnap('v2', '', { base: ts1, names: new Set(['market:m-5']) });
    // m-5 changed: its resource in ts2 differs from what the client holds.
    Map.prototype.set.call(ts2.items, 'market:m-5', moved('market:m-5'));
    const r = v.reply(SCOPED_ROUTE, st, snapWith(ts2));
    if (r.kind !== 'send') return assert.fail('the change is sent');
    assert.deepEqual(
      r.response.resources.map((x) => x.name),
      ['market:m-5'],
    );
    assert.ok(ts2.items.reads <= 2, `reads ${ts2.items.reads}`);
  });

  it('two steps while an ACK was out: the reply reads the names of both steps only', () => {
    const { v, st, ts1 } = clientHolding();
    const ts2 = typeSnap('v2', '', { base: ts1, names: new Set(['market:m-5']) });
    Map.prototype.set.call(ts2.items, 'market:m-5', moved('market:m-5'));
    const ts3 = typeSnap('v3', '', { base: ts2, names: new Set(['market:m-7']) });
    Map.prototype.set.call(ts3.items, 'market:m-5', moved('market:m-5'));
    Map.prototype.set.call(ts3.items, 'market:m-7', moved('market:m-7'));
    const r = v.reply(SCOPED_ROUTE, st, snapWith(ts3));
    if (r.kind !== 'send') return assert.fail('the changes are sent');
    assert.deepEqual(r.response.resources.map((x) => x.name).sort(), ['market:m-5', 'market:m-7']);
    assert.ok(ts3.items.reads <= 4, `reads ${ts3.items.reads}`);
  });
});
