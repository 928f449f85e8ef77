import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stmt } from '../db/stmt.js';
import { eventually, orderBody, testCell, type TestCell } from '../testing.js';

const headers = (key: string) => ({ 'content-type': 'application/json', 'x-market-id': 'm1', 'idempotency-key': key });

async function create(t: TestCell, key: string): Promise<string> {
  const res = await t.request('POST', '/v1/orders', { headers: headers(key), body: orderBody() });
  return ((await res.json()) as { id: string }).id;
}

const status = (t: TestCell, id: string) =>
  (stmt(t.cell.db, 'SELECT status FROM orders WHERE id = ?').get(id) as { status: string }).status;
const delivery = (t: TestCell, id: string) =>
  stmt(t.cell.db, 'SELECT status, reason FROM deliveries WHERE order_id = ?').get(id) as
    { status: string; reason: string | null } | undefined;

describe('reconciliation', () => {
  it('repairs deliberately broken order/delivery pairs from the order side and reports what it found and fixed', async () => {
    const t = testCell({ reconcileStaleMs: 200, pickupAfterMs: 30, deliverAfterMs: 30 }, { background: true });
    try {
      const [a, b, c] = [await create(t, 'a'), await create(t, 'b'), await create(t, 'c')];
      for (const id of [a, b, c]) await eventually(() => (status(t, id) === 'DELIVERED' ? true : undefined), 8000, `${id} delivered`);
      const db = t.cell.db;
      // Break: a lost its delivery; b's delivery disagrees; an orphan delivery; d is PENDING whose event was lost.
      stmt(db, 'DELETE FROM deliveries WHERE order_id = ?').run(a);
      stmt(db, "UPDATE deliveries SET status = 'ASSIGNED' WHERE order_id = ?").run(b);
      stmt(
        db,
        "INSERT INTO deliveries (order_id, market, status, created_at, updated_at, seq) VALUES ('ord_ghost', 'm1', 'ASSIGNED', 0, 0, 0)",
      ).run();
      const old = Date.now() - 60_000;
      stmt(
        db,
        `INSERT INTO orders (id, market, customer_id, items, address, total_cents, status, created_at, updated_at, seq)
         VALUES ('ord_lost', 'm1', 'c', '[{"sku":"s","qty":1,"priceCents":1}]', 'x', 1, 'PENDING', ?, ?, 0)`,
      ).run(old, old);
      stmt(db, "INSERT INTO order_history (order_id, n, market, status, at, seq) VALUES ('ord_lost', 1, 'm1', 'PENDING', ?, 0)").run(old);

      const res = await t.request('POST', '/admin/reconcile');
      assert.equal(res.status, 200);
      const report = (await res.json()) as { found: Record<string, number>; fixed: Record<string, number> };
      assert.deepEqual(report.found, {
        pendingWithoutDelivery: 1,
        missingDelivery: 1,
        statusMismatch: 1,
        orphanDelivery: 1,
        missingSaga: 0,
      });
      assert.deepEqual(report.fixed, report.found);
      assert.equal(delivery(t, a)?.status, 'DELIVERED');
      assert.equal(delivery(t, b)?.status, 'DELIVERED');
      assert.equal(delivery(t, 'ord_ghost')?.status, 'CANCELLED');
      // The alert: mismatches counted by kind, and the last run's count above 0 until a clean run.
      const alerting = await (await t.request('GET', '/metrics')).text();
      for (const kind of ['pendingWithoutDelivery', 'missingDelivery', 'statusMismatch', 'orphanDelivery'])
        assert.match(alerting, new RegExp(`^cellsim_reconcile_mismatches_total\\{kind="${kind}"[^}]*\\} 1$`, 'm'), kind);
      assert.match(alerting, /^cellsim_reconcile_last_found\{[^}]*\} 4$/m);
      // The re-emitted event goes through the log; the lost order completes like any other.
      await eventually(() => (status(t, 'ord_lost') === 'DELIVERED' ? true : undefined), 8000, 'lost order delivered');
      const again = (await (await t.request('POST', '/admin/reconcile')).json()) as { found: Record<string, number> };
      assert.ok(
        Object.values(again.found).every((n) => n === 0),
        JSON.stringify(again),
      );
      assert.match(await (await t.request('GET', '/metrics')).text(), /^cellsim_reconcile_last_found\{[^}]*\} 0$/m, 'alert cleared');
    } finally {
      await t.close();
    }
  });

  it('restarts a missing saga for an unfinished order with a delivery', async () => {
    const t = testCell({ pickupAfterMs: 60_000 }, { background: true });
    try {
      const id = await create(t, 's');
      await eventually(() => (status(t, id) === 'CONFIRMED' ? true : undefined), 5000, 'confirmed');
      stmt(t.cell.db, 'DELETE FROM sagas WHERE order_id = ?').run(id);
      const report = (await (await t.request('POST', '/admin/reconcile')).json()) as { found: Record<string, number> };
      assert.equal(report.found.missingSaga, 1);
      const saga = stmt(t.cell.db, 'SELECT state FROM sagas WHERE order_id = ?').get(id) as { state: string } | undefined;
      assert.ok(saga && ['CONFIRMED', 'DELIVERING', 'DONE'].includes(saga.state), JSON.stringify(saga));
      // the restarted saga carries the order on
      await eventually(() => (status(t, id) !== 'CONFIRMED' ? true : undefined), 5000, 'order moved past CONFIRMED');
    } finally {
      await t.close();
    }
  });
});
