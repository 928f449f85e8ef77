import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually, orderBody, testCell, type TestCell } from '../testing.js';

interface View {
  id: string;
  status: string;
  cancelReason: string | null;
  history: { status: string; reason: string | null }[];
  delivery: { status: string; courier: string | null; reason: string | null } | null;
  saga: { state: string; attempts: number; lastError: string | null } | null;
}

const headers = (key: string) => ({ 'content-type': 'application/json', 'x-market-id': 'm1', 'idempotency-key': key });

async function create(t: TestCell, key: string, body = orderBody()): Promise<string> {
  const res = await t.request('POST', '/v1/orders', { headers: headers(key), body });
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: string }).id;
}

async function view(t: TestCell, id: string): Promise<View> {
  return (await (await t.request('GET', `/v1/orders/${id}`)).json()) as View;
}

const until = (t: TestCell, id: string, pred: (v: View) => boolean, what: string, ms = 8000) =>
  eventually(
    async () => {
      const v = await view(t, id);
      return pred(v) ? v : undefined;
    },
    ms,
    what,
  );

describe('order saga', () => {
  it('takes an order through CONFIRMED, DELIVERING, DELIVERED with one history entry per step', async () => {
    const t = testCell({}, { background: true });
    try {
      const id = await create(t, 'happy');
      const v = await until(t, id, (x) => x.status === 'DELIVERED', 'DELIVERED');
      assert.deepEqual(
        v.history.map((h) => h.status),
        ['PENDING', 'CONFIRMED', 'DELIVERING', 'DELIVERED'],
      );
      assert.equal(v.delivery?.status, 'DELIVERED');
      assert.match(v.delivery?.courier ?? '', /^courier-\d+$/);
      assert.equal(v.saga?.state, 'DONE');
      const metrics = await (await t.request('GET', '/metrics')).text();
      assert.match(metrics, /cellsim_saga_outcomes_total\{outcome="delivered"[^}]*\} 1/);
      assert.match(metrics, /cellsim_order_confirm_seconds_count\{[^}]*\} 1/);
    } finally {
      await t.close();
    }
  });

  it('compensates when no courier is found: order CANCELLED with the reason, delivery FAILED', async () => {
    const t = testCell({}, { background: true });
    try {
      const id = await create(t, 'nocourier', orderBody({ address: '9 Nowhere Rd [no-courier]' }));
      const v = await until(t, id, (x) => x.status === 'CANCELLED', 'CANCELLED');
      assert.equal(v.cancelReason, 'no courier available');
      assert.deepEqual(
        v.history.map((h) => h.status),
        ['PENDING', 'CANCELLED'],
      );
      assert.equal(v.delivery?.status, 'FAILED');
      assert.equal(v.saga?.state, 'COMPENSATED');
      // a no-courier fault does the same to an ordinary address
      await t.request('POST', '/admin/faults', { body: { kind: 'no-courier', durationMs: 5000 } });
      const id2 = await create(t, 'nocourier-fault');
      const v2 = await until(t, id2, (x) => x.status === 'CANCELLED', 'CANCELLED by fault');
      assert.equal(v2.saga?.state, 'COMPENSATED');
    } finally {
      await t.close();
    }
  });

  it('keeps accepting orders while delivery is down (breaker opens), and completes them once it is back', async () => {
    const t = testCell({}, { background: true });
    try {
      const fault = await t.request('POST', '/admin/faults', { body: { kind: 'errors', route: 'delivery', durationMs: 1200 } });
      assert.equal(fault.status, 201);
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) ids.push(await create(t, `down-${i}`));
      await eventually(
        async () =>
          (await (await t.request('GET', '/metrics')).text()).match(/cellsim_dependency_breaker_open\{[^}]*\} 1/) ? true : undefined,
        5000,
        'breaker open',
      );
      const mid = await view(t, ids[0]!);
      assert.equal(mid.status, 'PENDING');
      assert.ok((mid.saga?.attempts ?? 0) >= 1);
      assert.match(mid.saga?.lastError ?? '', /delivery unavailable/);
      for (const id of ids) await until(t, id, (x) => x.status === 'DELIVERED', `${id} DELIVERED after recovery`, 15_000);
    } finally {
      await t.close();
    }
  });

  it('compensates with "delivery unavailable" when delivery stays down past the deadline', async () => {
    const t = testCell({ assignDeadlineMs: 300 }, { background: true });
    try {
      await t.request('POST', '/admin/faults', { body: { kind: 'errors', route: 'delivery', durationMs: 10_000 } });
      const id = await create(t, 'deadline');
      const v = await until(t, id, (x) => x.status === 'CANCELLED', 'CANCELLED');
      assert.equal(v.cancelReason, 'delivery unavailable');
      assert.equal(v.saga?.state, 'COMPENSATED');
    } finally {
      await t.close();
    }
  });

  it('a customer cancel while CONFIRMED stops the saga and cancels the delivery; a DELIVERING order cannot be cancelled', async () => {
    const t = testCell({ pickupAfterMs: 600, deliverAfterMs: 5000 }, { background: true });
    try {
      const id = await create(t, 'cancel-confirmed');
      await until(t, id, (x) => x.status === 'CONFIRMED', 'CONFIRMED');
      assert.equal((await t.request('POST', `/v1/orders/${id}/cancel`)).status, 200);
      const v = await until(t, id, (x) => x.delivery?.status === 'CANCELLED' && x.saga?.state === 'CANCELLED', 'delivery cancelled');
      assert.equal(v.status, 'CANCELLED');
      await new Promise((r) => setTimeout(r, 700));
      assert.equal((await view(t, id)).status, 'CANCELLED', 'the pickup timer did not revive it');
      const id2 = await create(t, 'cancel-delivering');
      await until(t, id2, (x) => x.status === 'DELIVERING', 'DELIVERING');
      const res = await t.request('POST', `/v1/orders/${id2}/cancel`);
      assert.equal(res.status, 409);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'conflict');
    } finally {
      await t.close();
    }
  });
});
