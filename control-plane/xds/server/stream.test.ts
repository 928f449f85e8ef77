/**
 * The shared ADS request flow (`stream.ts`, `lifecycle.ts`) without gRPC, Consul or Envoy: a
 * fake call and a toy variant that sends a type's whole content. Node identification, stream
 * open/close, nonces and stale nonces, ACK/NACK bookkeeping, parking, one response in flight,
 * send order, metrics and status.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, SCOPED_ROUTE, SHORT_NAME } from '../resources/type-urls.js';
import { FakeCall, fakeContext, metricSum, snapshotOf } from './fake-call.test-helper.js';
import { newFlow, serveStream, type AdsRequest, type TypeFlow, type Variant } from './stream.js';

interface Req extends AdsRequest {
  /** A subscription change (the toy variant then sends even what the client holds). */
  resubscribe?: boolean;
}
interface Res {
  type_url: string;
  version: string;
  names: string[];
  nonce: string;
}
interface St extends TypeFlow<string> {
  holds: string | undefined;
}

/** A toy variant: a response is the whole type; a version the client holds is 'skip' (or `held`). */
function toy(o: { nonceOutlivesAnswer?: boolean; staleDropsRequest?: boolean; held?: 'skip' | 'current' } = {}) {
  const log: string[] = [];
  const variant: Variant<Req, Res, string, St> = {
    mode: 'delta',
    nonceOutlivesAnswer: o.nonceOutlivesAnswer ?? false,
    staleDropsRequest: o.staleDropsRequest ?? false,
    open: (type) => {
      log.push(`open ${SHORT_NAME[type]}`);
      return { ...newFlow<string>(true), holds: undefined };
    },
    accept: (st, sent) => {
      log.push(`accept ${sent.extra}`);
      st.holds = sent.version;
      return sent.version;
    },
    reject: (st, sent) => {
      log.push(`reject ${sent.extra}`);
      return { version: sent.version, kept: st.holds };
    },
    subscribe: (type, st, req) => {
      log.push(`subscribe ${SHORT_NAME[type]}`);
      if (req.resubscribe) st.force = true;
    },
    reply: (type, st, snap) => {
      const ts = snap.type(type);
      if (!st.force && ts.version === st.holds) return { kind: o.held ?? 'skip' };
      const names = [...ts.items.keys()];
      return {
        kind: 'send',
        version: ts.version,
        response: { type_url: type, version: ts.version, names, nonce: '' },
        extra: `${SHORT_NAME[type]}@${names.join('+')}`,
        bytes: ts.bytes,
        detail: { resources: names.length },
      };
    },
  };
  return { variant, log };
}

function setup(o: Parameters<typeof toy>[0] = {}) {
  const ctx = fakeContext();
  const call = new FakeCall<Req, Res>();
  const { variant, log: calls } = toy(o);
  serveStream(call, ctx, variant);
  const { cache, status, metrics, nodes } = ctx;
  const typeStatus = (t: string) => status.list()[0]?.types[t];
  return { cache, status, metrics, call, calls, nodes, typeStatus, metric: metricSum };
}

const NODE = { id: 'n1', cluster: 'c1' };
const nonceNum = (n: string) => Number(n.split('-')[1]);

describe('ADS stream flow (shared by SotW and delta)', () => {
  it('the first request must name the node: without node.id the stream ends with an error', async () => {
    const s = setup();
    s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a'] }));
    s.call.send({ type_url: CLUSTER });
    assert.match(s.call.destroyed?.message ?? '', /must carry node.id/);
    assert.deepEqual(s.call.take(), []);
    assert.deepEqual(s.calls, [], 'no type state opened');
    assert.equal(s.status.list().length, 0);
    assert.equal(await s.metric(s.metrics.streams), 1);
    s.call.emit('close');
    assert.equal(await s.metric(s.metrics.streams), 0);
  });

  it('opens the node (status, hook, watch) and closes exactly once however the stream ends', async () => {
    const s = setup();
    s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a'] }));
    s.call.send({ node: NODE, type_url: CLUSTER });
    assert.deepEqual(s.nodes, ['n1']);
    assert.equal(s.status.list()[0]!.connected, true);
    assert.equal(s.status.list()[0]!.cluster, 'c1');
    assert.equal(await s.metric(s.metrics.connectedNodes), 1);
    assert.equal(s.call.take().length, 1);
    s.call.emit('end');
    s.call.emit('error', new Error('gone'));
    s.call.emit('close');
    s.call.emit('cancelled');
    assert.equal(s.call.ends, 1);
    assert.equal(s.status.list()[0]!.streams, 0);
    assert.equal(s.status.list()[0]!.connected, false);
    assert.equal(await s.metric(s.metrics.connectedNodes), 0);
    assert.equal(await s.metric(s.metrics.streams), 0);
    s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a', 'b'] }));
    assert.deepEqual(s.call.take(), [], 'a closed stream no longer watches the snapshot');
  });

  it('ignores a type this control plane does not serve', () => {
    const s = setup();
    s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a'] }));
    s.call.send({ node: NODE, type_url: 'type.googleapis.com/envoy.config.core.v3.Secret' });
    assert.deepEqual(s.call.take(), []);
    assert.deepEqual(s.calls, []);
    assert.equal(s.call.destroyed, undefined);
  });

  it('one response in flight per type: a change meanwhile follows the ACK; nonces rise; ACK recorded with push latency', async () => {
    const s = setup();
    s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a'] }));
    s.call.send({ node: NODE, type_url: CLUSTER });
    const [r1] = s.call.take();
    assert.deepEqual(r1!.names, ['a']);
    assert.equal(s.typeStatus('cds')!.lastSentNonce, r1!.nonce);
    assert.equal(s.typeStatus('cds')!.mode, 'delta');
    s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a', 'b'] }));
    assert.deepEqual(s.call.take(), [], 'nothing while r1 awaits its answer');
    s.call.send({ type_url: CLUSTER, response_nonce: r1!.nonce });
    const [r2] = s.call.take();
    assert.deepEqual(r2!.names, ['a', 'b']);
    assert.ok(nonceNum(r2!.nonce) > nonceNum(r1!.nonce));
    assert.equal(s.typeStatus('cds')!.lastAckedVersion, r1!.version);
    assert.equal(s.typeStatus('cds')!.pushes, 2);
    s.call.send({ type_url: CLUSTER, response_nonce: r2!.nonce });
    assert.equal(s.typeStatus('cds')!.lastAckedVersion, r2!.version);
    assert.equal(await s.metric(s.metrics.pushes), 2);
    assert.equal(await s.metric(s.metrics.pushLatency, 'cellsim_xds_push_latency_seconds_count'), 2);
    assert.ok((await s.metric(s.metrics.responseBytes)) > 0);
    assert.deepEqual(s.calls, ['open cds', 'subscribe cds', 'accept cds@a', 'subscribe cds', 'accept cds@a+b', 'subscribe cds']);
  });

  it('a stale nonce is counted and ignored; the rest of the request applies unless the variant drops it whole', async () => {
    for (const staleDropsRequest of [false, true]) {
      const s = setup({ staleDropsRequest });
      s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a'] }));
      s.call.send({ node: NODE, type_url: CLUSTER });
      const [r1] = s.call.take();
      s.call.send({ type_url: CLUSTER, response_nonce: 'zz-99', error_detail: { code: 3, message: 'old' } });
      assert.equal(await s.metric(s.metrics.staleNonces), 1);
      assert.equal(await s.metric(s.metrics.nacks), 0);
      assert.equal(s.typeStatus('cds')!.nacks, 0);
      assert.deepEqual(s.call.take(), [], 'r1 is still in flight');
      assert.deepEqual(s.calls, staleDropsRequest ? ['open cds', 'subscribe cds'] : ['open cds', 'subscribe cds', 'subscribe cds']);
      s.call.send({ type_url: CLUSTER, response_nonce: r1!.nonce });
      assert.equal(s.typeStatus('cds')!.lastAckedVersion, r1!.version, 'the latest nonce still answers');
    }
  });

  it('after its answer, the latest nonce is current again only when the variant says so (SotW), else stale (delta)', async () => {
    for (const nonceOutlivesAnswer of [false, true]) {
      const s = setup({ nonceOutlivesAnswer });
      s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a'] }));
      s.call.send({ node: NODE, type_url: CLUSTER });
      const [r1] = s.call.take();
      s.call.send({ type_url: CLUSTER, response_nonce: r1!.nonce });
      s.call.send({ type_url: CLUSTER, response_nonce: r1!.nonce });
      assert.equal(await s.metric(s.metrics.staleNonces), nonceOutlivesAnswer ? 0 : 1);
      assert.equal(s.calls.filter((c) => c.startsWith('accept')).length, nonceOutlivesAnswer ? 2 : 1);
      assert.equal(await s.metric(s.metrics.pushLatency, 'cellsim_xds_push_latency_seconds_count'), 1, 'latency measured once');
    }
  });

  it('a NACK is recorded and parks the version until the snapshot changes (or a subscription forces it)', async () => {
    const s = setup();
    s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a'] }));
    s.call.send({ node: NODE, type_url: CLUSTER });
    const [r1] = s.call.take();
    s.call.send({ type_url: CLUSTER, response_nonce: r1!.nonce });
    s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a', 'bad'] }));
    const [r2] = s.call.take();
    s.call.send({ type_url: CLUSTER, response_nonce: r2!.nonce, error_detail: { code: 3, message: 'bad cluster' } });
    assert.deepEqual(s.call.take(), [], 'not resent');
    const st = s.typeStatus('cds')!;
    assert.equal(st.nacks, 1);
    assert.equal(st.parked, true);
    assert.deepEqual(
      { ...st.lastNack, at: undefined },
      { version: r2!.version, nonce: r2!.nonce, error: 'bad cluster (code 3)', at: undefined },
    );
    assert.equal(st.lastAckedVersion, r1!.version, 'the last ACKed version is kept');
    assert.equal(await s.metric(s.metrics.nacks), 1);
    s.call.send({ type_url: CLUSTER });
    assert.deepEqual(s.call.take(), [], 'a plain request does not resend a parked version');
    s.call.send({ type_url: CLUSTER, resubscribe: true });
    assert.deepEqual(s.call.take()[0]!.names, ['a', 'bad'], 'a forced look sends it');
    assert.equal(s.typeStatus('cds')!.parked, false);
  });

  it('a parked version is released when the snapshot changes: by a send, or by a reply that the client is current', () => {
    for (const held of ['skip', 'current'] as const) {
      const s = setup({ held });
      s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a'] }));
      s.call.send({ node: NODE, type_url: CLUSTER });
      const [r1] = s.call.take();
      s.call.send({ type_url: CLUSTER, response_nonce: r1!.nonce });
      s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a', 'bad'] }));
      const [r2] = s.call.take();
      s.call.send({ type_url: CLUSTER, response_nonce: r2!.nonce, error_detail: { message: 'no' } });
      // Back to what the client holds: 'skip' leaves the park, 'current' releases it.
      s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a'] }));
      assert.deepEqual(s.call.take(), []);
      assert.equal(s.typeStatus('cds')!.parked, held === 'skip');
      s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a', 'bad'] }));
      assert.equal(s.call.take().length, held === 'skip' ? 0 : 1, 'the once-rejected version again');
      s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a', 'good'] }));
      if (held === 'skip') {
        assert.deepEqual(s.call.take()[0]!.names, ['a', 'good'], 'a new version is sent');
        assert.equal(s.typeStatus('cds')!.parked, false);
      }
    }
  });

  it('a snapshot change goes out in CDS → EDS → LDS → RDS → SRDS order', () => {
    const s = setup();
    const all = (tag: string) =>
      snapshotOf({ [CLUSTER]: ['c'], [ENDPOINT]: ['e'], [LISTENER]: ['l'], [ROUTE]: ['r'], [SCOPED_ROUTE]: ['s'] }, tag);
    s.cache.setSnapshot('n1', all('1'));
    for (const t of [SCOPED_ROUTE, ROUTE, LISTENER, ENDPOINT, CLUSTER]) {
      s.call.send({ node: NODE, type_url: t });
      s.call.send({ type_url: t, response_nonce: s.call.take()[0]!.nonce });
    }
    s.cache.setSnapshot('n1', all('2'));
    const sent = s.call.take();
    assert.deepEqual(
      sent.map((r) => r.type_url),
      [CLUSTER, ENDPOINT, LISTENER, ROUTE, SCOPED_ROUTE],
    );
    for (let i = 1; i < sent.length; i++) assert.ok(nonceNum(sent[i]!.nonce) > nonceNum(sent[i - 1]!.nonce));
  });

  it('a request the variant throws on ends the stream with that error', () => {
    const s = setup();
    s.cache.setSnapshot('n1', snapshotOf({ [CLUSTER]: ['a'] }));
    s.call.send({
      node: NODE,
      type_url: CLUSTER,
      get resubscribe(): boolean {
        throw new Error('broken request');
      },
    });
    assert.equal(s.call.destroyed?.message, 'broken request');
  });
});
