/**
 * Bucket ranges of a market moving by share (docs/weighted-shifts.md §Market moves by share): the
 * per-bucket freeze refuses client writes of the orders in a frozen range only, and the summary and
 * export of a range hold exactly those orders. In process (real SQLite), then once on a real cell
 * process over HTTP. A range import takes that range's rows only and holds no market, and the sagas
 * of a frozen range wait.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { experimentBucket } from '../../shared/experiment.js';
import { ProcessScope } from '../../infra/process.js';
import { client, orderBody, postOrder, startCellProcess, tempDir, testCell } from '../testing.js';
import { dueSagas, insertSaga } from '../saga/repo.js';

/** `n` customer ids whose bucket is below 5,000 (`low`) or not. */
function customers(low: boolean, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (experimentBucket(`c-${i}`) < 5000 === low) out.push(`c-${i}`);
  return out;
}

type Send = (path: string, init?: RequestInit) => Promise<Response>;
const json = { 'content-type': 'application/json' };

/** The checks both runs make, through `send` (the in-process app or a real cell's HTTP). */
async function bucketChecks(send: Send): Promise<void> {
  const [lowA, lowB] = customers(true, 2) as [string, string];
  const [highA] = customers(false, 1) as [string];
  const create = async (key: string, customerId: string) => postOrder(send, 'mkt', key, orderBody({ customerId }));
  const ids: Record<string, string> = {};
  for (const [key, cust] of [
    ['k1', lowA],
    ['k2', highA],
  ] as const) {
    const res = await create(key, cust);
    assert.equal(res.status, 201, await res.clone().text());
    ids[key] = ((await res.json()) as { id: string }).id;
  }

  // Freeze [0, 5000): a write in it answers 409 market_frozen with Retry-After; above it, and other markets, go on.
  const freeze = (method: 'POST' | 'DELETE', body: unknown) =>
    send('/admin/markets/mkt/freeze-buckets', { method, headers: json, body: JSON.stringify(body) });
  const frozen = await freeze('POST', { from: 0, to: 5000 });
  assert.equal(frozen.status, 200);
  assert.deepEqual(((await frozen.json()) as { frozen: unknown }).frozen, [{ from: 0, to: 5000 }]);
  const refused = await create('k3', lowB);
  assert.equal(refused.status, 409);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'market_frozen');
  assert.ok(refused.headers.get('retry-after'), 'Retry-After is set');
  const cancel = await send(`/v1/orders/${ids.k1}/cancel`, { method: 'POST', headers: { ...json, 'x-market-id': 'mkt' }, body: '{}' });
  assert.equal(cancel.status, 409, 'a cancel of an order in a frozen bucket is refused');
  assert.equal(((await cancel.json()) as { error: { code: string } }).error.code, 'market_frozen');
  assert.equal((await create('k4', highA)).status, 201, 'a bucket above the range writes');
  assert.equal((await postOrder(send, 'other', 'k5', orderBody({ customerId: lowB }))).status, 201, 'another market writes');
  assert.equal((await send(`/v1/orders/${ids.k1}`, { headers: { 'x-market-id': 'mkt' } })).status, 200, 'reads go on');

  // The summary and export of a range hold its orders only.
  const summary = async (q: string) =>
    (await (await send(`/admin/markets/mkt/summary${q}`)).json()) as { orders: number; checksum: string; frozen?: boolean };
  const low = await summary('?from=0&to=5000');
  const high = await summary('?from=5000&to=10000');
  const all = await summary('');
  assert.deepEqual([low.orders, high.orders, all.orders], [1, 2, 3]);
  assert.equal(low.frozen, true);
  assert.equal(high.frozen, false);
  const sum = (BigInt(`0x${low.checksum}`) + BigInt(`0x${high.checksum}`)) % (1n << 128n);
  assert.equal(sum.toString(16).padStart(32, '0'), all.checksum, 'the two ranges add up to the market');
  const lines = (await (await send('/admin/markets/mkt/export?from=0&to=5000')).text())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; id?: string; order_id?: string; customer_id?: string });
  const orders = lines.filter((l) => l.type === 'order');
  assert.deepEqual(
    orders.map((o) => o.customer_id),
    [lowA],
  );
  assert.ok(
    lines.filter((l) => l.order_id !== undefined).every((l) => l.order_id === ids.k1),
    'history and idempotency of that order only',
  );
  assert.ok(lines.some((l) => l.type === 'history'));
  const delta = await (await send('/admin/markets/mkt/changes?since=0&from=5000&to=10000')).text();
  assert.equal(delta.split('\n').filter((l) => l.includes('"type":"order"')).length, 2);

  // Bad ranges are refused with the contract's error; thawing the range lets the write through.
  for (const q of ['?from=5&to=5', '?from=0', '?from=-1&to=3', '?from=0&to=10001', '?from=a&to=3', '?from=0&to=3&x=1']) {
    const res = await send(`/admin/markets/mkt/summary${q}`);
    assert.equal(res.status, 400, q);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_request', q);
  }
  assert.equal((await freeze('POST', { from: 10, to: 3 })).status, 400);
  assert.equal((await freeze('POST', { from: 0, to: 1.5 })).status, 400);
  const thawed = await freeze('DELETE', { from: 0, to: 5000 });
  assert.deepEqual(((await thawed.json()) as { frozen: unknown }).frozen, []);
  assert.equal((await create('k3', lowB)).status, 201);
}

describe('bucket ranges of a market moving by share', () => {
  it('freezes writes of a bucket range only, and summarises and exports a range (in process)', async () => {
    const t = testCell();
    try {
      await bucketChecks((path, init = {}) =>
        t.request(init.method ?? 'GET', path, {
          headers: Object.fromEntries(new Headers(init.headers).entries()),
          raw: init.body as string | undefined,
        }),
      );
    } finally {
      await t.close();
    }
  });

  it('imports a bucket range without holding the market, refuses rows outside it, and pauses the sagas of a frozen range', async () => {
    const src = testCell();
    const dst = testCell();
    try {
      const [lowA] = customers(true, 1) as [string];
      const [highA] = customers(false, 1) as [string];
      const ids: string[] = [];
      for (const [key, customerId] of [
        ['k1', lowA],
        ['k2', highA],
      ] as const) {
        const res = await src.request('POST', '/v1/orders', {
          headers: { 'x-market-id': 'mkt', 'idempotency-key': key },
          body: orderBody({ customerId }),
        });
        assert.equal(res.status, 201);
        ids.push(((await res.json()) as { id: string }).id);
      }
      const low = await (await src.request('GET', '/admin/markets/mkt/export?from=0&to=5000')).text();
      const count = async () => ((await (await dst.request('GET', '/admin/markets/mkt/summary')).json()) as { orders: number }).orders;
      // Rows of buckets outside the range: 400, nothing written.
      const wrong = await dst.request('POST', '/admin/markets/mkt/import?from=5000&to=10000', {
        raw: low,
        headers: { 'content-type': 'application/x-ndjson' },
      });
      assert.equal(wrong.status, 400);
      assert.match(((await wrong.json()) as { error: { code: string; message: string } }).error.message, /not in buckets \[5000, 10000\)/);
      assert.equal(await count(), 0);
      const ok = await dst.request('POST', '/admin/markets/mkt/import?from=0&to=5000', {
        raw: low,
        headers: { 'content-type': 'application/x-ndjson' },
      });
      assert.equal(ok.status, 200, await ok.clone().text());
      assert.equal(await count(), 1);
      const held = dst.cell.db.prepare('SELECT 1 FROM market_holds WHERE market = ?').get('mkt');
      assert.equal(held, undefined, 'a range import holds no market');
      const range = async (t: typeof src) =>
        (await (await t.request('GET', '/admin/markets/mkt/summary?from=0&to=5000')).json()) as { checksum: string };
      assert.equal((await range(dst)).checksum, (await range(src)).checksum);
      // A frozen range's due sagas are not picked; thawed, they are.
      const now = Date.now();
      for (const id of ids) {
        src.cell.db.prepare('DELETE FROM sagas WHERE order_id = ?').run(id);
        insertSaga(src.cell.db, { order_id: id, market: 'mkt', next_at: now - 1, deadline_at: now + 60_000 }, now);
      }
      const due = () =>
        dueSagas(src.cell.db, now, 100)
          .map((x) => x.order_id)
          .filter((id) => ids.includes(id))
          .sort();
      assert.deepEqual(due(), [...ids].sort());
      const freeze = (method: string) => src.request(method, '/admin/markets/mkt/freeze-buckets', { body: { from: 0, to: 5000 } });
      assert.equal((await freeze('POST')).status, 200);
      assert.deepEqual(due(), [ids[1]], 'the frozen order waits, the other goes on');
      assert.equal((await freeze('DELETE')).status, 200);
      assert.deepEqual(due(), [...ids].sort());
    } finally {
      await src.close();
      await dst.close();
    }
  });

  it('does the same on a real cell process over HTTP', async () => {
    const scope = new ProcessScope();
    const tmp = tempDir();
    try {
      // Sagas held back (no order changes status during the checks), as in process where no background work runs.
      const args = ['--assign-delay', '600s', '--pickup-after', '600s', '--deliver-after', '600s'];
      const cell = await startCellProcess(scope, { id: 'cell-b1', dataDir: tmp.dir, args });
      await bucketChecks(client(cell.url));
    } finally {
      await scope.close();
      tmp.cleanup();
    }
  });
});
