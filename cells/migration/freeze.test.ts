import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually, orderBody, testCell, type TestCell } from '../testing.js';

interface Summary {
  orders: number;
  checksum: string;
  pending: { outbox: number; log: number; sagas: number };
}

const headers = (market: string, key: string) => ({ 'content-type': 'application/json', 'x-market-id': market, 'idempotency-key': key });
const summary = async (t: TestCell, m: string) => (await (await t.request('GET', `/admin/markets/${m}/summary`)).json()) as Summary;
const status = async (t: TestCell, id: string) =>
  ((await (await t.request('GET', `/v1/orders/${id}`)).json()) as { status: string; saga: { state: string } }).status;

async function create(t: TestCell, market: string, key: string): Promise<string> {
  const res = await t.request('POST', '/v1/orders', { headers: headers(market, key), body: orderBody() });
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: string }).id;
}

describe('a frozen market stops changing in its cell', () => {
  it('pauses its sagas (other markets go on), keeps its checksum, and resumes them when unfrozen', async () => {
    // Slow pickup/delivery steps: the frozen order sits in CONFIRMED with its next step due during the freeze.
    const t = testCell({ pickupAfterMs: 150, deliverAfterMs: 150 }, { background: true });
    try {
      const frozenId = await create(t, 'mig', 'a');
      await eventually(async () => ((await status(t, frozenId)) === 'CONFIRMED' ? true : undefined), 8000, 'CONFIRMED');
      assert.equal((await t.request('POST', '/admin/markets/mig/freeze')).status, 200);
      const atFreeze = await eventually(
        async () => {
          const s = await summary(t, 'mig');
          return s.pending.outbox + s.pending.log === 0 ? s : undefined;
        },
        5000,
        'pending work drained',
      );
      assert.equal(atFreeze.pending.sagas, 1, 'the saga is still active (it moves with the market)');

      const otherId = await create(t, 'stay', 'b');
      await eventually(async () => ((await status(t, otherId)) === 'DELIVERED' ? true : undefined), 8000, 'other market DELIVERED');
      // Well past both step delays: the frozen market's order has not moved and its checksum is unchanged.
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(await status(t, frozenId), 'CONFIRMED');
      const later = await summary(t, 'mig');
      assert.equal(later.checksum, atFreeze.checksum);
      const reconciled = (await (await t.request('POST', '/admin/reconcile')).json()) as { fixed: Record<string, number> };
      assert.ok(
        Object.values(reconciled.fixed).every((n) => n === 0),
        JSON.stringify(reconciled),
      );
      assert.equal((await summary(t, 'mig')).checksum, atFreeze.checksum, 'reconciliation leaves a frozen market alone');

      assert.equal((await t.request('DELETE', '/admin/markets/mig/freeze')).status, 200);
      await eventually(async () => ((await status(t, frozenId)) === 'DELIVERED' ? true : undefined), 8000, 'DELIVERED after unfreeze');
      const after = await summary(t, 'mig');
      assert.notEqual(after.checksum, atFreeze.checksum, 'the checksum follows a status change');
      assert.equal(after.pending.sagas, 0);
    } finally {
      await t.close();
    }
  });

  it('keeps the order checksum incremental yet equal to a fresh computation after a purge and re-import', async () => {
    const t = testCell({}, { background: true });
    try {
      for (let i = 0; i < 5; i++) await create(t, 'mig', `k${i}`);
      const drained = async () =>
        eventually(
          async () => {
            const s = await summary(t, 'mig');
            return s.pending.sagas + s.pending.outbox + s.pending.log === 0 ? s : undefined;
          },
          8000,
          'drained',
        );
      const full = await drained();
      const snapshot = await (await t.request('GET', '/admin/markets/mig/export')).text();
      assert.equal((await t.request('DELETE', '/admin/markets/mig')).status, 200);
      assert.deepEqual([(await summary(t, 'mig')).orders, (await summary(t, 'mig')).checksum], [0, '0'.repeat(32)]);
      const res = await t.request('POST', '/admin/markets/mig/import', {
        headers: { 'content-type': 'application/x-ndjson' },
        raw: snapshot,
      });
      assert.equal(res.status, 200, await res.clone().text());
      const back = await summary(t, 'mig');
      assert.equal(back.orders, 5);
      assert.equal(back.checksum, full.checksum);
    } finally {
      await t.close();
    }
  });
});
