import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { urlTags, type VegetaResult, type VegetaTarget } from '../../infra/vegeta/index.js';
import { trafficConfig, type TrafficConfig } from '../plan.js';
import { TrafficModel } from './model.js';

const NOW = 1_800_000_000_000;

function config(over: Partial<TrafficConfig> = {}): TrafficConfig {
  return trafficConfig({
    runId: 'run',
    rate: 10,
    targets: [
      { plane: 'router', replica: 'router-1', url: 'http://127.0.0.1:1' },
      { plane: 'router', replica: 'router-2', url: 'http://127.0.0.1:2' },
    ],
    markets: [{ id: 'sf', cell: 'cell-1', weight: 1 }],
    faultCells: ['cell-1'],
    ...over,
  });
}

/** The answer a server (or the network) gave to `t`. */
function answer(t: VegetaTarget, over: Partial<VegetaResult> = {}): VegetaResult {
  return {
    seq: 0,
    code: 200,
    start: NOW,
    latencyMs: 2,
    bytesIn: 0,
    bytesOut: 0,
    error: '',
    method: t.method,
    url: t.url,
    headers: { 'x-cell-id': 'cell-1' },
    body: Buffer.alloc(0),
    ...over,
  };
}

const body = (t: VegetaTarget) => (t.body === undefined ? undefined : (JSON.parse(String(t.body)) as unknown));
const path = (t: VegetaTarget) => new URL(t.url).pathname;

describe('drill traffic model', () => {
  it('creates first in a market with no known order, with an Idempotency-Key, and reads the new order back next', () => {
    const m = new TrafficModel(config({ mix: { create: 0, get: 1, list: 0, cancel: 0 } }), () => 0.5);
    const create = m.next(NOW);
    assert.equal(create.method, 'POST');
    assert.equal(path(create), '/v1/orders');
    assert.match(String((create.header as Record<string, string>)['Idempotency-Key']), /^run-\d+$/);
    assert.equal((create.header as Record<string, string>)['x-market-id'], 'sf');
    assert.deepEqual(Object.keys(body(create) as object).sort(), ['address', 'customerId', 'items']);
    const out = m.onResult(answer(create, { code: 201, body: Buffer.from('{"id":"ord_1"}') }), NOW);
    assert.equal(out.kind, 'request');
    const read = m.next(NOW);
    assert.equal(path(read), '/v1/orders/ord_1');
    assert.equal(urlTags(read.url).op, 'read');
    // The order is known now: a `get` arrival reads it.
    assert.equal(path(m.next(NOW)), '/v1/orders/ord_1');
  });

  it('tags every target in the URL fragment, never in what is sent', () => {
    const m = new TrafficModel(config({ mix: { create: 0, get: 0, list: 1, cancel: 0 } }));
    const t = m.next(NOW);
    const u = new URL(t.url);
    assert.equal(u.search, '?market=sf&limit=20');
    assert.deepEqual(
      { ...urlTags(t.url), n: undefined },
      { n: undefined, m: 'sf', o: 'cell-1', p: 'router', r: urlTags(t.url).r, op: 'list', a: 'first' },
    );
  });

  it('tags a create with its Idempotency-Key (k), kept when the create is sent again', () => {
    const m = new TrafficModel(config({ mix: { create: 1, get: 0, list: 0, cancel: 0 } }));
    const t = m.next(NOW);
    const key = t.header?.['Idempotency-Key'];
    assert.ok(typeof key === 'string' && key.length > 0);
    assert.equal(urlTags(t.url).k, key);
    const out = m.onResult(answer(t, { code: 0, error: `dial tcp 127.0.0.1:1: connect: connection refused` }), NOW);
    assert.equal(out.kind, 'failover');
    const again = m.next(NOW);
    assert.equal(urlTags(again.url).a, 'failover');
    assert.equal(urlTags(again.url).k, key);
  });

  it('sends a refused request to the other replica of the plane and counts a failover, not a request', () => {
    const m = new TrafficModel(config({ mix: { create: 0, get: 0, list: 1, cancel: 0 } }));
    const t = m.next(NOW);
    const refused = urlTags(t.url).r;
    const out = m.onResult(answer(t, { code: 0, error: `dial tcp 127.0.0.1:1: connect: connection refused` }), NOW);
    assert.deepEqual(out, { kind: 'failover', point: { time: NOW, plane: 'router', replica: refused } });
    const again = m.next(NOW);
    assert.equal(urlTags(again.url).a, 'failover');
    assert.notEqual(urlTags(again.url).r, refused);
    // The refused replica is avoided for a while.
    for (let i = 0; i < 4; i++) assert.notEqual(urlTags(m.next(NOW).url).r, refused);
  });

  it('records a refused request as failed when the plane has no other replica', () => {
    const cfg = config({ mix: { create: 0, get: 0, list: 1, cancel: 0 } });
    const m = new TrafficModel({ ...cfg, targets: cfg.targets.slice(0, 1) });
    const t = m.next(NOW);
    const out = m.onResult(answer(t, { code: 0, error: 'connect: connection refused' }), NOW);
    assert.equal(out.kind, 'request');
    assert.ok(out.kind === 'request' && out.point.failed && out.point.code === 'net_refused');
  });

  it('retries a 503 market_migrating after its Retry-After, at most maxRetries times, then records it as failed', () => {
    const m = new TrafficModel(config({ mix: { create: 1, get: 0, list: 0, cancel: 0 }, maxRetries: 2, maxRetryAfterS: 1 }));
    const first = m.next(NOW);
    const migrating = (t: VegetaTarget) =>
      answer(t, { code: 503, headers: { 'retry-after': '1' }, body: Buffer.from('{"error":{"code":"market_migrating","message":"x"}}') });
    assert.equal(m.onResult(migrating(first), NOW).kind, 'retry');
    // Not before its Retry-After: a fresh arrival goes out first.
    assert.notEqual(urlTags(m.next(NOW + 500).url).a, 'retry');
    const retry = m.next(NOW + 1000);
    assert.equal(urlTags(retry.url).a, 'retry');
    assert.equal((retry.header as Record<string, string>)['Idempotency-Key'], (first.header as Record<string, string>)['Idempotency-Key']);
    assert.deepEqual(body(retry), body(first), 'the same body with the same key');
    assert.equal(m.onResult(migrating(retry), NOW + 1000).kind, 'retry');
    const last = m.next(NOW + 2000);
    const out = m.onResult(migrating(last), NOW + 2000);
    assert.ok(out.kind === 'request' && out.point.failed && out.point.code === 'market_migrating');
  });

  it('does not retry other 503s, and forgets answered requests', () => {
    const m = new TrafficModel(config({ mix: { create: 0, get: 0, list: 1, cancel: 0 } }));
    const t = m.next(NOW);
    assert.equal(m.pending, 1);
    const out = m.onResult(answer(t, { code: 503, body: Buffer.from('{"error":{"code":"cell_unavailable","message":"x"}}') }), NOW);
    assert.ok(out.kind === 'request' && out.point.failed && out.point.code === 'cell_unavailable');
    assert.equal(m.pending, 0);
    assert.equal(m.onResult(answer(t), NOW).kind, 'unknown', 'an answer it never asked for is not counted');
  });

  it('keeps at most 50 known orders per market and follows the weights', () => {
    const markets = [
      { id: 'big', cell: 'cell-1', weight: 9 },
      { id: 'small', cell: 'cell-2', weight: 1 },
    ];
    let x = 0;
    const m = new TrafficModel(config({ markets, mix: { create: 1, get: 0, list: 0, cancel: 0 } }), () => (x = (x + 0.137) % 1));
    const seen: Record<string, number> = {};
    for (let i = 0; i < 2000; i++) {
      const t = m.next(NOW);
      const tags = urlTags(t.url);
      if (tags.op !== 'create') {
        m.onResult(answer(t), NOW);
        continue;
      }
      seen[tags.m!] = (seen[tags.m!] ?? 0) + 1;
      m.onResult(answer(t, { code: 201, body: Buffer.from(JSON.stringify({ id: `o${i}` })) }), NOW);
    }
    const share = seen.big! / (seen.big! + seen.small!);
    assert.ok(share > 0.85 && share < 0.95, `big market share ${share}`);
    const known = (m as unknown as { known: Map<string, string[]> }).known;
    assert.equal(known.get('big')?.length, 50);
  });
});
