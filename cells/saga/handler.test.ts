import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDb } from '../db/open.js';
import { stmt } from '../db/stmt.js';
import { cancelOrder, createOrder } from '../orders/domain.js';
import { eventually, orderBody, tempDir, testCell } from '../testing.js';
import { SqliteLog } from '../log/sqlite-log.js';
import type { LogRecord } from '../log/types.js';
import { applyOrderEvent } from './handler.js';
import { getDelivery } from '../delivery/repo.js';

function rec(orderId: string, type: string, offset: number): LogRecord {
  return { partition: 0, offset, key: orderId, market: 'm1', eventId: `${orderId}:${type}`, type, payload: '{}', createdAt: Date.now() };
}

const body = { customerId: 'c', items: [{ sku: 's', qty: 1, priceCents: 100 }], address: 'a' };

describe('delivery handler (duplicate and reordered log deliveries)', () => {
  it('a duplicated create event creates one delivery and one saga', () => {
    const tmp = tempDir();
    const db = openDb(tmp.dir);
    try {
      const { order } = createOrder(db, 'm1', 'k1', body);
      assert.equal(applyOrderEvent(db, rec(order.id, 'order.created', 0), 60_000), 'applied');
      assert.equal(applyOrderEvent(db, rec(order.id, 'order.created', 1), 60_000), 'duplicate');
      assert.equal(applyOrderEvent(db, rec(order.id, 'order.created', 0), 60_000), 'duplicate');
      assert.equal((stmt(db, 'SELECT COUNT(*) AS n FROM deliveries').get() as { n: number }).n, 1);
      assert.equal((stmt(db, 'SELECT COUNT(*) AS n FROM sagas').get() as { n: number }).n, 1);
      assert.equal(getDelivery(db, order.id)?.status, 'REQUESTED');
    } finally {
      db.close();
      tmp.cleanup();
    }
  });

  it('a cancel delivered before its create leaves a cancelled delivery that the late create does not revive', () => {
    const tmp = tempDir();
    const db = openDb(tmp.dir);
    try {
      const { order } = createOrder(db, 'm1', 'k2', body);
      cancelOrder(db, order.id, 'changed my mind');
      assert.equal(applyOrderEvent(db, rec(order.id, 'order.cancelled', 1), 60_000), 'applied');
      assert.equal(applyOrderEvent(db, rec(order.id, 'order.created', 0), 60_000), 'duplicate');
      assert.equal(getDelivery(db, order.id)?.status, 'CANCELLED');
      assert.equal((stmt(db, 'SELECT COUNT(*) AS n FROM sagas WHERE active = 1').get() as { n: number }).n, 0);
    } finally {
      db.close();
      tmp.cleanup();
    }
  });

  it('create then cancel (in order) cancels the delivery and its saga; the repeated cancel is a duplicate', () => {
    const tmp = tempDir();
    const db = openDb(tmp.dir);
    try {
      const { order } = createOrder(db, 'm1', 'k3', body);
      applyOrderEvent(db, rec(order.id, 'order.created', 0), 60_000);
      cancelOrder(db, order.id, 'late');
      assert.equal(applyOrderEvent(db, rec(order.id, 'order.cancelled', 1), 60_000), 'applied');
      assert.equal(applyOrderEvent(db, rec(order.id, 'order.cancelled', 2), 60_000), 'duplicate');
      assert.equal(getDelivery(db, order.id)?.status, 'CANCELLED');
      assert.equal((stmt(db, 'SELECT state FROM sagas WHERE order_id = ?').get(order.id) as { state: string }).state, 'CANCELLED');
    } finally {
      db.close();
      tmp.cleanup();
    }
  });

  it('an event for an order that is gone (market purged) is skipped', () => {
    const tmp = tempDir();
    const db = openDb(tmp.dir);
    try {
      assert.equal(applyOrderEvent(db, rec('ord_missing', 'order.created', 0), 60_000), 'skipped');
      assert.equal((stmt(db, 'SELECT COUNT(*) AS n FROM deliveries').get() as { n: number }).n, 0);
    } finally {
      db.close();
      tmp.cleanup();
    }
  });

  it('through the running cell: redelivered and reordered log records change nothing, the saga completes once', async () => {
    const t = testCell({ partitions: 2 }, { background: true });
    try {
      const res = await t.request('POST', '/v1/orders', {
        headers: { 'content-type': 'application/json', 'x-market-id': 'm1', 'idempotency-key': 'dup' },
        body: orderBody(),
      });
      const { id } = (await res.json()) as { id: string };
      const log = t.cell.ctx.log as SqliteLog;
      const event = (type: string, n: number) => ({
        key: id,
        market: 'm1',
        eventId: `${id}:${type}:again${n}`,
        type,
        payload: '{}',
        createdAt: Date.now(),
      });
      // The broker hands the create over three more times.
      await log.append([event('order.created', 1), event('order.created', 2), event('order.created', 3)]);
      const done = await eventually(
        async () => {
          const v = (await (await t.request('GET', `/v1/orders/${id}`)).json()) as { status: string; history: { status: string }[] };
          return v.status === 'DELIVERED' ? v : undefined;
        },
        8000,
        'delivered',
      );
      assert.deepEqual(
        done.history.map((h) => h.status),
        ['PENDING', 'CONFIRMED', 'DELIVERING', 'DELIVERED'],
      );
      await eventually(
        async () => {
          const m = await (await t.request('GET', '/metrics')).text();
          return /cellsim_consumer_events_total\{type="order.created",outcome="duplicate"[^}]*\} 3/.test(m) ? true : undefined;
        },
        5000,
        'three duplicates counted',
      );
      assert.equal((stmt(t.cell.db, 'SELECT COUNT(*) AS n FROM deliveries').get() as { n: number }).n, 1);
    } finally {
      await t.close();
    }
  });
});
