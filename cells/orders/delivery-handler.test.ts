/**
 * The two choreographed handlers of a split cell, on real SQLite databases (one per service):
 * the delivery side copies the order facts from the order events and runs the saga's handler;
 * the order side moves its order by each delivery event with compare-and-set, so replays and
 * late events change nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDb } from '../db/open.js';
import { stmt } from '../db/stmt.js';
import { getDelivery } from '../delivery/repo.js';
import type { LogRecord } from '../log/types.js';
import type { OutboxRow } from '../outbox/relay.js';
import { applyMirroredOrderEvent } from '../saga/mirror.js';
import { tempDir } from '../testing.js';
import { cancelOrder, createOrder } from './domain.js';
import { applyDeliveryEvent } from './delivery-handler.js';
import { getOrder } from './repo.js';

const body = { customerId: 'c', items: [{ sku: 's', qty: 1, priceCents: 100 }], address: '1 no-courier St' };

/** The outbox rows of `db` as log records. */
function outbox(db: ReturnType<typeof openDb>): LogRecord[] {
  const rows = stmt(db, 'SELECT * FROM outbox ORDER BY id').all() as OutboxRow[];
  return rows.map((r) => ({
    partition: 0,
    offset: r.id,
    key: r.key,
    market: r.market,
    eventId: r.event_id,
    type: r.type,
    payload: r.payload,
    createdAt: r.created_at,
  }));
}

function ev(orderId: string, type: string, extra: Record<string, unknown> = {}): LogRecord {
  const payload = JSON.stringify({ orderId, market: 'm1', type, at: Date.now(), ...extra });
  return { partition: 0, offset: 0, key: orderId, market: 'm1', eventId: `${orderId}:${type}`, type, payload, createdAt: Date.now() };
}

describe('split cell handlers', () => {
  it('the delivery side copies the order facts (address, cancel reason) and absorbs replays', () => {
    const tmp = tempDir();
    const orders = openDb(`${tmp.dir}/o`);
    const deliveries = openDb(`${tmp.dir}/d`);
    try {
      const { order } = createOrder(orders, 'm1', 'k1', body);
      cancelOrder(orders, order.id, 'changed my mind');
      const [created, cancelled] = outbox(orders);
      assert.equal(applyMirroredOrderEvent(deliveries, created!, 60_000), 'applied');
      assert.equal(applyMirroredOrderEvent(deliveries, created!, 60_000), 'duplicate');
      assert.equal(getOrder(deliveries, order.id)?.address, '1 no-courier St');
      assert.equal(applyMirroredOrderEvent(deliveries, cancelled!, 60_000), 'applied');
      assert.equal(applyMirroredOrderEvent(deliveries, cancelled!, 60_000), 'duplicate');
      assert.equal(getDelivery(deliveries, order.id)?.status, 'CANCELLED');
      assert.equal(getDelivery(deliveries, order.id)?.reason, 'changed my mind');
      assert.equal((stmt(deliveries, 'SELECT COUNT(*) AS n FROM deliveries').get() as { n: number }).n, 1);
    } finally {
      orders.close();
      deliveries.close();
      tmp.cleanup();
    }
  });

  it('the order side moves its order once per delivery event, never backwards', () => {
    const tmp = tempDir();
    const db = openDb(tmp.dir);
    try {
      const { order } = createOrder(db, 'm1', 'k1', body);
      assert.equal(applyDeliveryEvent(db, ev(order.id, 'delivery.assigned')).outcome, 'applied');
      assert.equal(applyDeliveryEvent(db, ev(order.id, 'delivery.assigned')).outcome, 'duplicate');
      assert.equal(applyDeliveryEvent(db, ev(order.id, 'delivery.picked_up')).outcome, 'applied');
      assert.equal(applyDeliveryEvent(db, ev(order.id, 'delivery.delivered')).outcome, 'applied');
      // A late replay of an earlier event changes nothing.
      assert.equal(applyDeliveryEvent(db, ev(order.id, 'delivery.assigned')).outcome, 'duplicate');
      assert.equal(applyDeliveryEvent(db, ev(order.id, 'delivery.failed', { reason: 'x' })).outcome, 'duplicate');
      assert.equal(getOrder(db, order.id)?.status, 'DELIVERED');
      assert.equal(applyDeliveryEvent(db, ev('ord_unknown', 'delivery.assigned')).outcome, 'skipped');

      const { order: o2 } = createOrder(db, 'm1', 'k2', body);
      assert.equal(applyDeliveryEvent(db, ev(o2.id, 'delivery.failed', { reason: 'no courier available' })).outcome, 'applied');
      assert.equal(getOrder(db, o2.id)?.status, 'CANCELLED');
      assert.equal(getOrder(db, o2.id)?.cancel_reason, 'no courier available');
    } finally {
      db.close();
      tmp.cleanup();
    }
  });
});
