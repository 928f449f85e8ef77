import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { experimentBucket } from '../shared/experiment.js';
import type { OrderView } from './orders/repo.js';
import { mergePages } from './share-reads.js';
import { orderBody, testCell, type TestCell } from './testing.js';

const view = (at: number, id: string): OrderView => ({ id, createdAt: new Date(at).toISOString() }) as unknown as OrderView;

describe('mergePages', () => {
  it('takes the first n of two sorted pages on (creation time, id)', () => {
    const a = [view(1, 'a'), view(3, 'a'), view(5, 'a')];
    const b = [view(2, 'b'), view(3, 'b'), view(9, 'b')];
    assert.deepEqual(
      mergePages(a, b, 4).map((o) => `${Date.parse(o.createdAt)}${o.id}`),
      ['1a', '2b', '3a', '3b'],
    );
    assert.deepEqual(mergePages([], b, 9), b);
    assert.deepEqual(mergePages(a, [], 2), a.slice(0, 2));
  });
});

/** A customer id whose bucket is below (`low`) or at/above 5,000. */
function customer(low: boolean, n: number): string {
  for (let i = 0; ; i++) {
    const id = `cust-${low ? 'lo' : 'hi'}-${n}-${i}`;
    if (experimentBucket(id) < 5000 === low) return id;
  }
}

describe('reads of a market moving by share (two cells, the peer reached through its app)', () => {
  const cells = new Map<string, TestCell>();
  // The peer's URL names its cell; the fetch goes through that cell's app (its admin auth included).
  const peerFetch = (url: string, init?: RequestInit) => {
    const t = cells.get(new URL(url).hostname);
    if (!t) return Promise.reject(new Error(`connect ECONNREFUSED ${url}`));
    return Promise.resolve(t.cell.app.request(url, init));
  };
  let src: TestCell;
  let dst: TestCell;
  const headers = (key: string) => ({ 'content-type': 'application/json', 'x-market-id': 'nyc', 'idempotency-key': key });
  const create = async (t: TestCell, key: string, customerId: string) => {
    const res = await t.request('POST', '/v1/orders', { headers: headers(key), body: orderBody({ customerId }) });
    assert.equal(res.status, 201);
    await new Promise((r) => setTimeout(r, 3)); // distinct creation times
    return ((await res.json()) as { id: string }).id;
  };
  const list = async (t: TestCell, q = '') => {
    const res = await t.request('GET', `/v1/orders?market=nyc${q}`);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { orders: OrderView[]; nextCursor: string | null };
  };
  const ids: Record<string, string> = {};

  before(async () => {
    src = testCell({ id: 'cell-src' }, { peerFetch });
    dst = testCell({ id: 'cell-dst' }, { peerFetch });
    cells.set('src.test', src);
    cells.set('dst.test', dst);
    ids.rest = await create(src, 'k-rest', customer(false, 1));
    ids.movedOld = await create(src, 'k-old', customer(true, 2));
    // The step: buckets [0, 5000) copied to the target (a range export into a range import).
    const exp = await src.request('GET', '/admin/markets/nyc/export?from=0&to=5000');
    assert.equal(exp.status, 200);
    const imp = await dst.request('POST', '/admin/markets/nyc/import?from=0&to=5000', {
      headers: { 'content-type': 'application/x-ndjson' },
      raw: await exp.text(),
    });
    assert.equal(imp.status, 200, await imp.clone().text());
    // The target serves the moved buckets: a new order there, and a change to a moved one.
    ids.movedNew = await create(dst, 'k-new', customer(true, 3));
    const cancel = await dst.request('POST', `/v1/orders/${ids.movedOld}/cancel`, { headers: { 'x-market-id': 'nyc' } });
    assert.equal(cancel.status, 200);
    ids.restLater = await create(src, 'k-rest2', customer(false, 4));
  });
  after(async () => {
    await src.close();
    await dst.close();
  });

  const declare = async (t: TestCell, peer: string, from: number, to: number) => {
    const res = await t.request('PUT', '/admin/markets/nyc/share-peer', {
      body: { cell: peer === 'dst.test' ? 'cell-dst' : 'cell-src', urls: [`http://${peer}:1`], buckets: { from, to } },
    });
    assert.equal(res.status, 200, await res.clone().text());
  };

  it('without a declared peer the source lists its own rows only (the moved order as its step froze it)', async () => {
    const { orders } = await list(src);
    assert.deepEqual(
      orders.map((o) => o.id),
      [ids.rest, ids.movedOld, ids.restLater],
    );
    assert.equal(orders.find((o) => o.id === ids.movedOld)?.status, 'PENDING');
  });

  it('each cell lists the union, each order once and as its home holds it, in creation order, page by page', async () => {
    await declare(src, 'dst.test', 0, 5000);
    await declare(dst, 'src.test', 5000, 10000);
    const want = [ids.rest, ids.movedOld, ids.movedNew, ids.restLater];
    for (const t of [src, dst]) {
      const { orders } = await list(t);
      assert.deepEqual(
        orders.map((o) => o.id),
        want,
      );
      assert.equal(orders.find((o) => o.id === ids.movedOld)?.status, 'CANCELLED', "the target's change is seen");
      // One order a page: the cursor walks both cells' rows without a gap or a repeat.
      const walked: string[] = [];
      let cursor: string | null = '';
      while (cursor !== null) {
        const page = await list(t, `&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        walked.push(...page.orders.map((o) => o.id));
        cursor = page.nextCursor;
      }
      assert.deepEqual(walked, want);
      const cancelled = await list(t, '&status=CANCELLED');
      assert.deepEqual(
        cancelled.orders.map((o) => o.id),
        [ids.movedOld],
      );
    }
  });

  it("counts the requests of a market with a peer apart, by market (a step's SLO verdict reads them), and no other market's", async () => {
    assert.equal((await src.request('GET', '/v1/orders?market=sfo', { headers: { 'x-market-id': 'sfo' } })).status, 200);
    assert.equal((await src.request('GET', '/v1/orders?market=nyc', { headers: { 'x-market-id': 'nyc' } })).status, 200);
    const lines = (await (await src.request('GET', '/metrics')).text())
      .split('\n')
      .filter((l) => l.startsWith('cellsim_share_requests_total{'));
    assert.ok(
      lines.some((l) => l.includes('market="nyc"') && l.includes('route="/v1/orders"') && l.includes('status="200"')),
      lines.join('\n'),
    );
    assert.ok(!lines.some((l) => l.includes('market="sfo"')), lines.join('\n'));
  });

  it('an unkeyed read of one order finds it at its home, from either cell', async () => {
    for (const t of [src, dst]) {
      for (const [id, status] of [
        [ids.movedNew, 'PENDING'],
        [ids.movedOld, 'CANCELLED'],
        [ids.rest, 'PENDING'],
      ] as const) {
        const res = await t.request('GET', `/v1/orders/${id}`, { headers: { 'x-market-id': 'nyc' } });
        assert.equal(res.status, 200, `${t.cell.config.id} ${id}`);
        const o = (await res.json()) as OrderView & { history: unknown[] };
        assert.equal(o.status, status, `${t.cell.config.id} ${id}`);
        assert.ok(o.history.length >= 1);
      }
    }
    const missing = await src.request('GET', '/v1/orders/ord_00000000-0000-0000-0000-000000000000', { headers: { 'x-market-id': 'nyc' } });
    assert.equal(missing.status, 404);
  });

  it('a peer that does not answer fails the list and the read with 503 cell_unavailable and Retry-After', async () => {
    await declare(src, 'gone.test', 0, 5000);
    const res = await src.request('GET', '/v1/orders?market=nyc');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'cell_unavailable');
    const one = await src.request('GET', `/v1/orders/${ids.movedNew}`, { headers: { 'x-market-id': 'nyc' } });
    assert.equal(one.status, 503);
    // Taken away (the move ended), the source answers from its own rows again.
    const del = await src.request('DELETE', '/admin/markets/nyc/share-peer');
    assert.equal(del.status, 200);
    assert.equal((await list(src)).orders.length, 3);
  });

  it('refuses a bad declaration and a peer list without a range (400 invalid_request)', async () => {
    for (const body of [
      { cell: 'cell-dst', urls: [], buckets: { from: 0, to: 10 } },
      { cell: 'cell-dst', urls: ['ftp://x'], buckets: { from: 0, to: 10 } },
      { cell: 'cell-dst', urls: ['http://x:1'], buckets: { from: 10, to: 5 } },
      { cell: 'Cell', urls: ['http://x:1'], buckets: { from: 0, to: 10 } },
    ]) {
      const res = await src.request('PUT', '/admin/markets/nyc/share-peer', { body });
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    for (const q of ['', '?from=5&to=5', '?from=0&to=10001']) {
      const res = await src.request('GET', `/admin/markets/nyc/orders${q}`);
      assert.equal(res.status, 400, q);
    }
  });
});
