/** The comparison of a split cell's reconciliation (cells/reconcile/split-compare.ts): each mismatch and its repair. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareSides, type DeliverySide, type OrderSide } from './split-compare.js';

const NOW = 1_000_000;
const opts = { backlog: false, staleMs: 10_000, now: NOW };
const order = (id: string, status: OrderSide['status'], queued = false): OrderSide => ({ id, status, queued });
const delivery = (orderId: string, status: DeliverySide['status'], over: Partial<DeliverySide> = {}): DeliverySide => ({
  orderId,
  status,
  reason: null,
  courier: 'courier-1',
  updatedAt: NOW - 60_000,
  saga: { state: 'CONFIRMED', active: !['DELIVERED', 'FAILED', 'CANCELLED'].includes(status) },
  ...over,
});

describe('split reconciliation: compareSides', () => {
  it('finds nothing when both sides agree', () => {
    const orders = [order('a', 'PENDING'), order('b', 'CONFIRMED'), order('c', 'DELIVERING')];
    const deliveries = [delivery('a', 'REQUESTED'), delivery('b', 'ASSIGNED'), delivery('c', 'PICKED_UP')];
    assert.deepEqual(compareSides(orders, deliveries, opts), []);
  });

  it('republishes the create of an order the delivery side has no delivery for', () => {
    const found = compareSides([order('p', 'PENDING'), order('c', 'CONFIRMED'), order('d', 'DELIVERING')], [], opts);
    assert.deepEqual(found, [
      { orderId: 'p', kind: 'pendingWithoutDelivery', repair: { kind: 'republish' } },
      { orderId: 'c', kind: 'missingDelivery', repair: { kind: 'republish' } },
      { orderId: 'd', kind: 'missingDelivery', repair: { kind: 'republish' } },
    ]);
  });

  it('leaves an order alone while its event is queued, a PENDING one while the delivery group has a backlog', () => {
    assert.deepEqual(compareSides([order('p', 'PENDING', true), order('c', 'CONFIRMED', true)], [], opts), []);
    assert.deepEqual(compareSides([order('p', 'PENDING')], [], { ...opts, backlog: true }), []);
    // A past-PENDING order without a delivery is found even with a backlog: its create was read long ago.
    assert.equal(compareSides([order('c', 'CONFIRMED')], [], { ...opts, backlog: true })[0]!.kind, 'missingDelivery');
  });

  it('applies the delivery event an order missed, by the furthest step of its delivery', () => {
    const found = compareSides(
      [order('a', 'PENDING'), order('b', 'CONFIRMED'), order('c', 'CONFIRMED'), order('d', 'PENDING')],
      [
        delivery('a', 'ASSIGNED'),
        delivery('b', 'DELIVERED'),
        delivery('c', 'PICKED_UP'),
        delivery('d', 'FAILED', { reason: 'no courier available', courier: null }),
      ],
      opts,
    );
    assert.deepEqual(
      found.map((f) => [f.orderId, f.kind, f.repair]),
      [
        ['a', 'statusMismatch', { kind: 'apply', type: 'delivery.assigned', reason: null, courier: 'courier-1' }],
        ['b', 'statusMismatch', { kind: 'apply', type: 'delivery.delivered', reason: null, courier: 'courier-1' }],
        ['c', 'statusMismatch', { kind: 'apply', type: 'delivery.picked_up', reason: null, courier: 'courier-1' }],
        ['d', 'statusMismatch', { kind: 'apply', type: 'delivery.failed', reason: 'no courier available', courier: null }],
      ],
    );
  });

  it('counts a delivery that moved within the stale bound as in flight, not a mismatch', () => {
    assert.deepEqual(compareSides([order('b', 'CONFIRMED')], [delivery('b', 'DELIVERED', { updatedAt: NOW - 1000 })], opts), []);
  });

  it('reports what the order side cannot repair: a cancelled delivery of an active order, an unfinished delivery without an active saga', () => {
    const found = compareSides(
      [order('x', 'CONFIRMED'), order('y', 'CONFIRMED'), order('z', 'DELIVERING')],
      [delivery('x', 'CANCELLED'), delivery('y', 'ASSIGNED', { saga: { state: 'DONE', active: false } }), delivery('z', 'FAILED')],
      opts,
    );
    assert.deepEqual(
      found.map((f) => [f.orderId, f.kind, f.repair.kind]),
      [
        ['x', 'statusMismatch', 'none'],
        ['y', 'missingSaga', 'none'],
        ['z', 'statusMismatch', 'none'],
      ],
    );
  });
});
