import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stmt } from './db/stmt.js';
import { orderBody, testCell, type TestCell } from './testing.js';

const TABLES = ['orders', 'order_history', 'idempotency', 'outbox', 'deliveries', 'sagas'];

function rowCounts(t: TestCell): Record<string, number> {
  return Object.fromEntries(TABLES.map((n) => [n, (stmt(t.cell.db, `SELECT COUNT(*) AS n FROM ${n}`).get() as { n: number }).n]));
}

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(typeof body.error.message, 'string');
  return body.error;
}

const json = { 'content-type': 'application/json' };
const post = (market: string, key: string) => ({ ...json, 'x-market-id': market, 'idempotency-key': key });

describe('order API', () => {
  let t: TestCell;
  before(() => {
    t = testCell();
  });
  after(() => t.close());

  it('creates an order (201), returns the same order for the same key and body (200), refuses another body (422)', async () => {
    const first = await t.request('POST', '/v1/orders', { headers: post('nyc', 'key-1'), body: orderBody() });
    assert.equal(first.status, 201);
    assert.equal(first.headers.get('x-cell-id'), 'cell-t');
    const order = (await first.json()) as { id: string; status: string; totalCents: number; history: unknown[] };
    assert.equal(order.status, 'PENDING');
    assert.equal(order.totalCents, 2500);
    // same body, keys in another order: same order
    const again = await t.request('POST', '/v1/orders', {
      headers: post('nyc', 'key-1'),
      raw: JSON.stringify({ address: '1 Main St', items: [{ priceCents: 1250, qty: 2, sku: 'pizza' }], customerId: 'cust-1' }),
    });
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { id: string }).id, order.id);
    const before = rowCounts(t);
    const conflict = await t.request('POST', '/v1/orders', { headers: post('nyc', 'key-1'), body: orderBody({ customerId: 'other' }) });
    assert.equal(conflict.status, 422);
    assert.equal((await errorOf(conflict)).code, 'idempotency_conflict');
    assert.deepEqual(rowCounts(t), before);
    // the same key in another market is another order
    const other = await t.request('POST', '/v1/orders', { headers: post('sfo', 'key-1'), body: orderBody() });
    assert.equal(other.status, 201);
  });

  const bad: [string, () => { headers: Record<string, string>; body?: unknown; raw?: string }, number, string][] = [
    ['invalid JSON', () => ({ headers: post('nyc', 'b1'), raw: '{"customerId": "c",' }), 400, 'invalid_json'],
    [
      'wrong content type',
      () => ({ headers: { ...post('nyc', 'b2'), 'content-type': 'text/plain' }, raw: JSON.stringify(orderBody()) }),
      415,
      'unsupported_media_type',
    ],
    [
      'no content type',
      () => ({ headers: { 'x-market-id': 'nyc', 'idempotency-key': 'b3' }, raw: JSON.stringify(orderBody()) }),
      415,
      'unsupported_media_type',
    ],
    [
      'missing field',
      () => ({ headers: post('nyc', 'b4'), body: { customerId: 'c', items: [{ sku: 'a', qty: 1, priceCents: 1 }] } }),
      400,
      'invalid_request',
    ],
    [
      'wrongly typed field',
      () => ({ headers: post('nyc', 'b5'), body: orderBody({ items: [{ sku: 'a', qty: '2', priceCents: 1 }] }) }),
      400,
      'invalid_request',
    ],
    ['unknown field', () => ({ headers: post('nyc', 'b6'), body: orderBody({ coupon: 'FREE' }) }), 400, 'invalid_request'],
    [
      'qty 0',
      () => ({ headers: post('nyc', 'b7'), body: orderBody({ items: [{ sku: 'a', qty: 0, priceCents: 1 }] }) }),
      400,
      'invalid_request',
    ],
    [
      'negative qty',
      () => ({ headers: post('nyc', 'b8'), body: orderBody({ items: [{ sku: 'a', qty: -1, priceCents: 1 }] }) }),
      400,
      'invalid_request',
    ],
    [
      'negative price',
      () => ({ headers: post('nyc', 'b9'), body: orderBody({ items: [{ sku: 'a', qty: 1, priceCents: -5 }] }) }),
      400,
      'invalid_request',
    ],
    ['no items', () => ({ headers: post('nyc', 'b10'), body: orderBody({ items: [] }) }), 400, 'invalid_request'],
    [
      'too many items',
      () => ({
        headers: post('nyc', 'b11'),
        body: orderBody({ items: Array.from({ length: 51 }, (_, i) => ({ sku: `s${i}`, qty: 1, priceCents: 1 })) }),
      }),
      400,
      'invalid_request',
    ],
    [
      'body over 64 KiB',
      () => ({ headers: post('nyc', 'b12'), body: orderBody({ address: 'x'.repeat(70 * 1024) }) }),
      413,
      'payload_too_large',
    ],
    ['missing market', () => ({ headers: { ...json, 'idempotency-key': 'b13' }, body: orderBody() }), 400, 'missing_market'],
    ['invalid market', () => ({ headers: post('NYC!', 'b14'), body: orderBody() }), 400, 'invalid_market'],
    ['two markets', () => ({ headers: post('nyc,sfo', 'b15'), body: orderBody() }), 400, 'invalid_market'],
    ['missing Idempotency-Key', () => ({ headers: { ...json, 'x-market-id': 'nyc' }, body: orderBody() }), 400, 'idempotency_key_required'],
    ['body not an object', () => ({ headers: post('nyc', 'b17'), raw: '[1,2]' }), 400, 'invalid_request'],
  ];
  for (const [name, make, status, code] of bad) {
    it(`refuses ${name} with ${status} ${code} and writes nothing`, async () => {
      const before = rowCounts(t);
      const res = await t.request('POST', '/v1/orders', make());
      assert.equal(res.status, status);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.equal(res.headers.get('x-cell-id'), 'cell-t');
      assert.equal((await errorOf(res)).code, code);
      assert.deepEqual(rowCounts(t), before);
    });
  }

  it('lists every problem of a bad body with its path', async () => {
    const res = await t.request('POST', '/v1/orders', {
      headers: post('nyc', 'paths'),
      body: {
        customerId: '',
        items: [
          { sku: 'a', qty: 1, priceCents: 1 },
          { sku: 'b', qty: 0, priceCents: -1 },
        ],
        address: 'x',
      },
    });
    const body = (await res.json()) as { error: { message: string; details: { path: string }[] } };
    const paths = body.error.details.map((d) => d.path).sort();
    assert.deepEqual(paths, ['customerId', 'items[1].priceCents', 'items[1].qty']);
    assert.match(body.error.message, /items\[1\]\.qty/);
  });

  it('answers 404 not_found for an unknown order, on get and on cancel, writing nothing', async () => {
    const before = rowCounts(t);
    const get = await t.request('GET', '/v1/orders/ord_00000000-0000-0000-0000-000000000000');
    assert.equal(get.status, 404);
    assert.equal((await errorOf(get)).code, 'not_found');
    const cancel = await t.request('POST', '/v1/orders/nope/cancel');
    assert.equal(cancel.status, 404);
    assert.deepEqual(rowCounts(t), before);
    const route = await t.request('GET', '/v1/nothing-here');
    assert.equal(route.status, 404);
    assert.equal((await errorOf(route)).code, 'not_found');
  });

  it('gets an order with its history, hides it from another market, and lists by market and status with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.request('POST', '/v1/orders', { headers: post('lst', `l${i}`), body: orderBody({ customerId: `c${i}` }) });
      ids.push(((await res.json()) as { id: string }).id);
    }
    const one = await t.request('GET', `/v1/orders/${ids[0]}`, { headers: { 'x-market-id': 'lst' } });
    const view = (await one.json()) as { history: { status: string }[]; delivery: unknown; saga: unknown };
    assert.deepEqual(
      view.history.map((h) => h.status),
      ['PENDING'],
    );
    assert.equal((await t.request('GET', `/v1/orders/${ids[0]}`, { headers: { 'x-market-id': 'other' } })).status, 404);
    await t.request('POST', `/v1/orders/${ids[1]}/cancel`, { headers: { ...json, 'x-market-id': 'lst' }, body: { reason: 'test' } });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/v1/orders?market=lst&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await (await t.request('GET', q)).json()) as { orders: { id: string }[]; nextCursor: string | null };
      assert.ok(page.orders.length <= 2);
      seen.push(...page.orders.map((o) => o.id));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(seen.sort(), [...ids].sort());
    const cancelled = (await (await t.request('GET', '/v1/orders?market=lst&status=CANCELLED')).json()) as { orders: { id: string }[] };
    assert.deepEqual(
      cancelled.orders.map((o) => o.id),
      [ids[1]],
    );
    const byHeader = (await (await t.request('GET', '/v1/orders?limit=10', { headers: { 'x-market-id': 'lst' } })).json()) as {
      orders: unknown[];
    };
    assert.equal(byHeader.orders.length, 5);
    for (const [q, code] of [
      ['/v1/orders', 'missing_market'],
      ['/v1/orders?market=BAD!', 'invalid_request'],
      ['/v1/orders?market=lst&limit=0', 'invalid_request'],
      ['/v1/orders?market=lst&status=LOST', 'invalid_request'],
      ['/v1/orders?market=lst&cursor=garbage', 'invalid_request'],
    ] as const) {
      const res = await t.request('GET', q);
      assert.equal(res.status, 400, q);
      assert.equal((await errorOf(res)).code, code, q);
    }
  });

  it('cancels a PENDING order with a reason and an event; cancelling again is idempotent', async () => {
    const res = await t.request('POST', '/v1/orders', { headers: post('cxl', 'c1'), body: orderBody() });
    const { id } = (await res.json()) as { id: string };
    const outbox = () => (stmt(t.cell.db, 'SELECT COUNT(*) AS n FROM outbox WHERE key = ?').get(id) as { n: number }).n;
    assert.equal(outbox(), 1);
    const c1 = await t.request('POST', `/v1/orders/${id}/cancel`, { headers: json, body: { reason: 'too slow' } });
    assert.equal(c1.status, 200);
    const v = (await c1.json()) as { status: string; cancelReason: string; history: { status: string; reason: string | null }[] };
    assert.equal(v.status, 'CANCELLED');
    assert.equal(v.cancelReason, 'too slow');
    assert.deepEqual(
      v.history.map((h) => h.status),
      ['PENDING', 'CANCELLED'],
    );
    assert.equal(outbox(), 2);
    const c2 = await t.request('POST', `/v1/orders/${id}/cancel`);
    assert.equal(c2.status, 200);
    assert.equal(outbox(), 2);
    const badBody = await t.request('POST', `/v1/orders/${id}/cancel`, { headers: json, raw: '{oops' });
    assert.equal(badBody.status, 400);
  });

  it('refuses writes to a frozen market with 409 market_frozen and writes nothing; unfreeze allows them again', async () => {
    assert.equal((await t.request('POST', '/admin/markets/frz/freeze')).status, 200);
    const before = rowCounts(t);
    const res = await t.request('POST', '/v1/orders', { headers: post('frz', 'f1'), body: orderBody() });
    assert.equal(res.status, 409);
    assert.equal((await errorOf(res)).code, 'market_frozen');
    assert.deepEqual(rowCounts(t), before);
    assert.equal(
      (await t.request('POST', '/v1/orders', { headers: post('nyc', 'f1'), body: orderBody() })).status,
      201,
      'other markets unaffected',
    );
    await t.request('DELETE', '/admin/markets/frz/freeze');
    assert.equal((await t.request('POST', '/v1/orders', { headers: post('frz', 'f1'), body: orderBody() })).status, 201);
  });

  it("answers a write Envoy's cell route sent to a frozen market with a 307 to the same URL, once, writing nothing", async () => {
    const created = await t.request('POST', '/v1/orders', { headers: post('frz2', 'r0'), body: orderBody() });
    const id = ((await created.json()) as { id: string }).id;
    assert.equal((await t.request('POST', '/admin/markets/frz2/freeze')).status, 200);
    const edge = { 'x-cellsim-edge-redirect': '307', 'x-forwarded-proto': 'https', host: 'edge.example:10443' };
    const before = rowCounts(t);
    const create = await t.request('POST', '/v1/orders?trace=1', { headers: { ...post('frz2', 'r1'), ...edge }, body: orderBody() });
    assert.equal(create.status, 307, await create.clone().text());
    assert.equal(create.headers.get('location'), 'https://edge.example:10443/v1/orders?trace=1');
    const cancel = await t.request('POST', `/v1/orders/${id}/cancel`, { headers: { ...json, 'x-market-id': 'frz2', ...edge }, body: {} });
    assert.equal(cancel.status, 307);
    assert.equal(cancel.headers.get('location'), `https://edge.example:10443/v1/orders/${id}/cancel`);
    // Already redirected once by Envoy, without the edge's header, or headers that build no URL: 409 as before.
    for (const [why, headers] of [
      ['redirected before', { ...edge, 'x-envoy-original-url': 'https://edge.example:10443/v1/orders' }],
      ['no edge header', { 'x-forwarded-proto': 'https', host: 'edge.example' }],
      ['another edge value', { ...edge, 'x-cellsim-edge-redirect': '1' }],
      ['unknown scheme', { ...edge, 'x-forwarded-proto': 'ftp' }],
      ['bad host', { ...edge, host: 'a b' }],
    ] as [string, Record<string, string>][]) {
      const res = await t.request('POST', '/v1/orders', {
        headers: { ...post('frz2', `r-${why.replace(/ /g, '-')}`), ...headers },
        body: orderBody(),
      });
      assert.equal(res.status, 409, why);
      assert.equal((await errorOf(res)).code, 'market_frozen', why);
    }
    assert.deepEqual(rowCounts(t), before, 'nothing written');
    await t.request('DELETE', '/admin/markets/frz2/freeze');
    // A frozen bucket range (a move by share): 409, whatever the edge says.
    assert.equal((await t.request('POST', '/admin/markets/frz2/freeze-buckets', { body: { from: 0, to: 10_000 } })).status, 200);
    const bucket = await t.request('POST', '/v1/orders', { headers: { ...post('frz2', 'r2'), ...edge }, body: orderBody() });
    assert.equal(bucket.status, 409);
    assert.equal((await errorOf(bucket)).code, 'market_frozen');
    await t.request('DELETE', '/admin/markets/frz2/freeze-buckets', { body: { from: 0, to: 10_000 } });
  });

  it('serves health, readiness, metrics and the global routes', async () => {
    assert.equal((await t.request('GET', '/healthz')).status, 200);
    assert.equal((await t.request('GET', '/readyz')).status, 200);
    t.cell.setReady(false);
    assert.equal((await t.request('GET', '/readyz')).status, 503);
    t.cell.setReady(true);
    const metrics = await (await t.request('GET', '/metrics')).text();
    assert.match(metrics, /cellsim_http_requests_total\{route="\/v1\/orders",method="POST",status="201"/);
    assert.match(metrics, /cellsim_http_request_duration_seconds_bucket/);
    assert.match(metrics, /cellsim_outbox_pending\{/);
    assert.match(metrics, /cellsim_consumer_lag\{partition="0"/);
    const g = await t.request('GET', '/v1/global/ping');
    assert.equal(g.status, 200);
    assert.equal(g.headers.get('x-cell-id'), 'cell-t');
  });

  it('protects /admin with the bearer token (401 unauthorized)', async () => {
    for (const auth of [undefined, 'Bearer wrong', 'Basic abc']) {
      const res = await t.cell.app.request('/admin/faults', { headers: auth ? { authorization: auth } : {} });
      assert.equal(res.status, 401);
      assert.equal((await errorOf(res)).code, 'unauthorized');
    }
    assert.equal((await t.request('GET', '/admin/faults')).status, 200);
  });
});
