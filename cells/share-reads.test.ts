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

describe('writes of a market moving by share (two cells, forwarded through the peer app)', () => {
  const cells = new Map<string, TestCell>();
  const peerFetch = (url: string, init?: RequestInit) => {
    const t = cells.get(new URL(url).hostname);
    if (!t) return Promise.reject(new Error(`connect ECONNREFUSED ${url}`));
    return Promise.resolve(t.cell.app.request(url, init));
  };
  let src: TestCell;
  let dst: TestCell;
  const nyc = { 'x-market-id': 'nyc' };
  const ids: Record<string, string> = {};
  const create = async (t: TestCell, key: string, customerId: string) =>
    t.request('POST', '/v1/orders', { headers: { ...nyc, 'idempotency-key': key }, body: orderBody({ customerId }) });
  /** The order as `t` itself holds it (its own rows, never its peer's): status, or 404. */
  const own = async (t: TestCell, id: string) => {
    const res = await t.request('GET', `/admin/markets/nyc/orders/${id}`);
    return res.status === 200 ? ((await res.json()) as OrderView).status : res.status;
  };
  const declare = async (t: TestCell, peer: string, from: number, to: number) => {
    const res = await t.request('PUT', '/admin/markets/nyc/share-peer', {
      body: { cell: peer === 'dst.test' ? 'cell-dst' : 'cell-src', urls: [`http://${peer}:1`], buckets: { from, to } },
    });
    assert.equal(res.status, 200, await res.clone().text());
  };
  const cancel = (t: TestCell, id: string, headers: Record<string, string> = nyc) =>
    t.request('POST', `/v1/orders/${id}/cancel`, { headers, body: { reason: 'moved' } });

  before(async () => {
    src = testCell({ id: 'cell-src' }, { peerFetch });
    dst = testCell({ id: 'cell-dst' }, { peerFetch });
    cells.set('src.test', src);
    cells.set('dst.test', dst);
    for (const [name, low, n] of [
      ['a', true, 1],
      ['b', true, 2],
      ['c', true, 3],
      ['r', false, 4],
      ['s', false, 5],
    ] as const) {
      const res = await create(src, `k-${name}`, customer(low, n));
      assert.equal(res.status, 201);
      ids[name] = ((await res.json()) as { id: string }).id;
    }
    // The step: [0, 5000) frozen on the source, copied to the target, both homes declared.
    assert.equal((await src.request('POST', '/admin/markets/nyc/freeze-buckets', { body: { from: 0, to: 5000 } })).status, 200);
    const exp = await src.request('GET', '/admin/markets/nyc/export?from=0&to=5000');
    const imp = await dst.request('POST', '/admin/markets/nyc/import?from=0&to=5000', {
      headers: { 'content-type': 'application/x-ndjson' },
      raw: await exp.text(),
    });
    assert.equal(imp.status, 200, await imp.clone().text());
    // Without a declaration the source refuses a write of a moved order (its frozen range): the gap this closes.
    const refused = await cancel(src, ids.a!);
    assert.equal(refused.status, 409);
    await declare(src, 'dst.test', 0, 5000);
    await declare(dst, 'src.test', 5000, 10000);
  });
  after(async () => {
    await src.close();
    await dst.close();
  });

  it('the source forwards a cancel of a moved order without its key to the target, which cancels it; a replay answers the same', async () => {
    const res = await cancel(src, ids.a!);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type')?.startsWith('application/json'), true);
    assert.equal(res.headers.get('x-cell-id'), 'cell-src', 'the answering cell, as the plane routed');
    assert.equal(((await res.json()) as OrderView).status, 'CANCELLED');
    assert.equal(await own(dst, ids.a!), 'CANCELLED', 'written at the home');
    assert.equal(await own(src, ids.a!), 'PENDING', "the source's frozen copy untouched: written on one cell only");
    const again = await cancel(src, ids.a!);
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as OrderView).status, 'CANCELLED');
  });

  it('the source forwards a create of a moved customer to the target; its Idempotency-Key replays there, from either cell', async () => {
    const cust = customer(true, 6);
    const res = await create(src, 'k-new', cust);
    assert.equal(res.status, 201, await res.clone().text());
    const o = (await res.json()) as OrderView;
    assert.equal(res.headers.get('location'), `/v1/orders/${o.id}`);
    assert.equal(await own(dst, o.id), 'PENDING');
    assert.equal(await own(src, o.id), 404, 'not created on the source');
    assert.equal((await list(dst, 'k-new')).length, 1, 'its key kept at the home');
    assert.equal((await list(src, 'k-new')).length, 0);
    for (const t of [src, dst]) {
      const replay = await create(t, 'k-new', cust);
      assert.equal(replay.status, 200, t.cell.config.id);
      assert.equal(((await replay.json()) as OrderView).id, o.id);
    }
    const other = await src.request('POST', '/v1/orders', {
      headers: { ...nyc, 'idempotency-key': 'k-new' },
      body: orderBody({ customerId: cust, address: '2 Other St' }),
    });
    assert.equal(other.status, 422, 'the same key with another body: the home says so');
    // A key first used on the source before the move replays on the target (the range copy carried it).
    const old = await create(src, 'k-b', customer(true, 2));
    assert.equal(old.status, 200);
    assert.equal(((await old.json()) as OrderView).id, ids.b);
  });

  it('the reverse: the target forwards writes of orders the source homes, and the source applies them', async () => {
    const res = await cancel(dst, ids.r!);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as OrderView).status, 'CANCELLED');
    assert.equal(await own(src, ids.r!), 'CANCELLED');
    const made = await create(dst, 'k-hi', customer(false, 7));
    assert.equal(made.status, 201, await made.clone().text());
    const id = ((await made.json()) as OrderView).id;
    assert.equal(await own(src, id), 'PENDING');
    assert.equal(await own(dst, id), 404);
    // An order neither cell has: the peer's 404 is the answer.
    const none = await cancel(dst, 'ord_00000000-0000-0000-0000-000000000000');
    assert.equal(none.status, 404);
  });

  it('a forwarded write of a bucket the receiver does not home is refused (409 market_frozen, Retry-After), nothing written', async () => {
    // The source's declaration gives [0, 5000) to the target: a write of b forwarded to the source is not its own.
    const c1 = await src.request('POST', `/admin/markets/nyc/orders/${ids.b}/cancel`, { body: {} });
    assert.equal(c1.status, 409, await c1.clone().text());
    assert.equal(c1.headers.get('retry-after'), '1');
    assert.equal(((await c1.json()) as { error: { code: string } }).error.code, 'market_frozen');
    const c2 = await dst.request('POST', '/admin/markets/nyc/orders', {
      headers: { 'idempotency-key': 'k-refused-hi' },
      body: orderBody({ customerId: customer(false, 10) }),
    });
    assert.equal(c2.status, 409, 'the target, whose declaration gives [5000, 10000) to the source');
    assert.equal((await list(dst, 'k-refused-hi')).length + (await list(src, 'k-refused-hi')).length, 0);
    const c3 = await src.request('POST', '/admin/markets/nyc/orders', {
      headers: { 'idempotency-key': 'k-refused' },
      body: orderBody({ customerId: customer(true, 8) }),
    });
    assert.equal(c3.status, 409);
    assert.equal(await own(src, ids.b!), 'PENDING');
    assert.equal(await own(dst, ids.b!), 'PENDING');
    // The refused create left no key behind: the same key creates the order at its home.
    const made = await create(dst, 'k-refused', customer(true, 8));
    assert.equal(made.status, 201);
    // A cell with no declaration (the move over, or not begun) applies no forwarded write.
    await src.request('DELETE', '/admin/markets/nyc/share-peer');
    const c4 = await src.request('POST', `/admin/markets/nyc/orders/${ids.s}/cancel`, { body: {} });
    assert.equal(c4.status, 409);
    assert.equal(await own(src, ids.s!), 'PENDING');
    await declare(src, 'dst.test', 0, 5000);
  });

  it('a peer that does not answer fails the write with 503 cell_unavailable and Retry-After; nothing is written', async () => {
    await declare(src, 'gone.test', 0, 5000);
    const res = await cancel(src, ids.c!);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'cell_unavailable');
    const made = await create(src, 'k-down', customer(true, 9));
    assert.equal(made.status, 503);
    assert.equal(await own(src, ids.c!), 'PENDING');
    assert.equal(await own(dst, ids.c!), 'PENDING');
    assert.equal((await list(src, 'k-down')).length, 0);
    await declare(src, 'dst.test', 0, 5000);
  });

  /** The orders of each cell's own rows created under `key` (none when the create wrote nothing). */
  const list = async (t: TestCell, key: string) => {
    const res = await t.request('GET', '/admin/markets/nyc/export');
    const rows = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; key?: string });
    return rows.filter((r) => r.type === 'idempotency' && r.key === key);
  };
});
