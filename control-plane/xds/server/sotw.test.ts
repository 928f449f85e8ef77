/**
 * The SotW variant on the shared flow, with a fake call (no gRPC): what the conformance test's
 * scripted client does not reach — a reconnect naming the version it holds, the version a NACK
 * keeps, and subscription changes carrying the latest nonce.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLUSTER, ENDPOINT } from '../resources/type-urls.js';
import { FakeCall, fakeContext, metricSum, snapshotOf } from './fake-call.test-helper.js';
import type { DiscoveryRequest, DiscoveryResponse } from './messages.js';
import { sotwVariant } from './sotw.js';
import { serveStream } from './stream.js';

const NODE = { id: 'n1' };

function setup() {
  const ctx = fakeContext();
  const call = new FakeCall<DiscoveryRequest, DiscoveryResponse>();
  serveStream(call, ctx, sotwVariant(ctx.identifier));
  const names = (r: DiscoveryResponse | undefined) => (r?.resources ?? []).map((a) => a.value.toString()).sort();
  return { ...ctx, call, names, typeStatus: (t: string) => ctx.status.list()[0]?.types[t] };
}

describe('SotW variant', () => {
  it('a reconnecting client that names the version it holds gets nothing until the snapshot changes', () => {
    const s = setup();
    const snap = snapshotOf({ [CLUSTER]: ['a', 'b'] });
    s.cache.setSnapshot(NODE.id, snap);
    s.call.send({ node: NODE, type_url: CLUSTER, version_info: snap.type(CLUSTER).version });
    assert.deepEqual(s.call.take(), []);
    s.cache.setSnapshot(NODE.id, snapshotOf({ [CLUSTER]: ['a', 'b', 'c'] }));
    const [r] = s.call.take();
    assert.deepEqual(s.names(r), ['a', 'b', 'c'], 'the full state');
    assert.equal(r!.control_plane?.identifier, 'cp-test');
  });

  it('a NACK keeps the version the client names: a return to it sends nothing, the rejected one stays parked', async () => {
    const s = setup();
    const v1 = snapshotOf({ [CLUSTER]: ['a'] });
    const v2 = snapshotOf({ [CLUSTER]: ['a', 'bad'] });
    s.cache.setSnapshot(NODE.id, v1);
    s.call.send({ node: NODE, type_url: CLUSTER });
    const [r1] = s.call.take();
    s.call.send({ type_url: CLUSTER, version_info: r1!.version_info, response_nonce: r1!.nonce });
    s.cache.setSnapshot(NODE.id, v2);
    const [r2] = s.call.take();
    s.call.send({ type_url: CLUSTER, version_info: r1!.version_info, response_nonce: r2!.nonce, error_detail: { message: 'bad' } });
    assert.equal(s.typeStatus('cds')!.lastNack?.version, r2!.version_info);
    assert.equal(s.typeStatus('cds')!.lastAckedVersion, r1!.version_info);
    s.cache.setSnapshot(NODE.id, snapshotOf({ [CLUSTER]: ['a'] }));
    assert.deepEqual(s.call.take(), [], 'the client holds it');
    s.cache.setSnapshot(NODE.id, snapshotOf({ [CLUSTER]: ['a', 'bad'] }));
    assert.deepEqual(s.call.take(), [], 'still parked');
    assert.equal(s.typeStatus('cds')!.parked, true);
    s.cache.setSnapshot(NODE.id, snapshotOf({ [CLUSTER]: ['a', 'good'] }));
    assert.deepEqual(s.names(s.call.take()[0]), ['a', 'good']);
    assert.equal(s.typeStatus('cds')!.parked, false);
    assert.equal(await metricSum(s.metrics.nacks), 1);
  });

  it('resource names: only those named; a change of names carrying the latest nonce resends, the same names do not', async () => {
    const s = setup();
    s.cache.setSnapshot(NODE.id, snapshotOf({ [ENDPOINT]: ['a', 'b', 'c'] }));
    s.call.send({ node: NODE, type_url: ENDPOINT, resource_names: ['a'] });
    const [r1] = s.call.take();
    assert.deepEqual(s.names(r1), ['a']);
    const ack = { type_url: ENDPOINT, version_info: r1!.version_info, response_nonce: r1!.nonce };
    s.call.send({ ...ack, resource_names: ['a'] });
    s.call.send({ ...ack, resource_names: ['a'] });
    assert.deepEqual(s.call.take(), []);
    s.call.send({ ...ack, resource_names: ['a', 'b'] });
    const [r2] = s.call.take();
    assert.deepEqual(s.names(r2), ['a', 'b']);
    assert.equal(r2!.version_info, r1!.version_info, 'same type version, other names');
    assert.equal(await metricSum(s.metrics.staleNonces), 0);
    s.call.send({ ...ack, resource_names: ['c'] });
    assert.deepEqual(s.call.take(), [], 'r2 is in flight: r1 is stale and the request is ignored whole');
    assert.equal(await metricSum(s.metrics.staleNonces), 1);
  });
});
