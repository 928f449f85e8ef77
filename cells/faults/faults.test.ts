import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { orderBody, testCell } from '../testing.js';

const post = (key: string) => ({ 'content-type': 'application/json', 'x-market-id': 'm1', 'idempotency-key': key });

async function timed(p: Promise<Response>): Promise<[Response, number]> {
  const t0 = Date.now();
  const res = await p;
  await res.arrayBuffer();
  return [res, Date.now() - t0];
}

describe('fault injection', () => {
  it('adds, lists and clears faults; refuses a bad fault with 400 and the JSON shape', async () => {
    const t = testCell();
    try {
      const a = await t.request('POST', '/admin/faults', { body: { kind: 'latency', latencyMs: 10, durationMs: 60_000 } });
      assert.equal(a.status, 201);
      const fa = (await a.json()) as { id: string; kind: string; expiresAt: string };
      assert.equal(fa.kind, 'latency');
      assert.ok(Date.parse(fa.expiresAt) > Date.now());
      await t.request('POST', '/admin/faults', {
        body: { kind: 'errors', errorRate: 0.5, durationMs: 60_000, route: 'GET /v1/orders/:id' },
      });
      let list = (await (await t.request('GET', '/admin/faults')).json()) as { faults: { id: string }[] };
      assert.equal(list.faults.length, 2);
      assert.equal((await t.request('DELETE', `/admin/faults/${fa.id}`)).status, 200);
      assert.equal((await t.request('DELETE', `/admin/faults/${fa.id}`)).status, 404);
      list = (await (await t.request('GET', '/admin/faults')).json()) as { faults: { id: string }[] };
      assert.equal(list.faults.length, 1);
      assert.deepEqual(await (await t.request('DELETE', '/admin/faults')).json(), { cleared: 1 });
      for (const bad of [{ kind: 'melt', durationMs: 10 }, { kind: 'latency' }, { kind: 'errors', durationMs: 10, errorRate: 2 }]) {
        const res = await t.request('POST', '/admin/faults', { body: bad });
        assert.equal(res.status, 400);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_request');
      }
      const shortLived = await t.request('POST', '/admin/faults', { body: { kind: 'latency', latencyMs: 1, durationMs: 50 } });
      assert.equal(shortLived.status, 201);
      await new Promise((r) => setTimeout(r, 80));
      assert.equal(((await (await t.request('GET', '/admin/faults')).json()) as { faults: unknown[] }).faults.length, 0, 'expired');
    } finally {
      await t.close();
    }
  });

  it('latency and errors hit /v1 routes (only the named route when scoped), never /healthz or /admin', async () => {
    const t = testCell();
    try {
      await t.request('POST', '/admin/faults', { body: { kind: 'latency', latencyMs: 400, durationMs: 60_000 } });
      const [, slow] = await timed(t.request('GET', '/v1/global/ping'));
      assert.ok(slow >= 390, `latency ${slow} ms`);
      const [, health] = await timed(t.request('GET', '/healthz'));
      assert.ok(health < 300, `healthz ${health} ms`);
      const [, admin] = await timed(t.request('GET', '/admin/faults'));
      assert.ok(admin < 300, `admin ${admin} ms`);
      await t.request('DELETE', '/admin/faults');
      await t.request('POST', '/admin/faults', { body: { kind: 'errors', status: 503, durationMs: 60_000, route: 'POST /v1/orders' } });
      const failed = await t.request('POST', '/v1/orders', { headers: post('e1'), body: orderBody() });
      assert.equal(failed.status, 503);
      assert.equal(((await failed.json()) as { error: { code: string } }).error.code, 'injected_fault');
      assert.equal((await t.request('GET', '/v1/global/ping')).status, 200, 'other routes unaffected');
      await t.request('DELETE', '/admin/faults');
      assert.equal((await t.request('POST', '/v1/orders', { headers: post('e1'), body: orderBody() })).status, 201);
    } finally {
      await t.close();
    }
  });

  it('hang holds requests until the fault ends; slow-db slows them; crash calls the crash hook', async () => {
    const t = testCell();
    try {
      await t.request('POST', '/admin/faults', { body: { kind: 'hang', durationMs: 400 } });
      const [hung, took] = await timed(t.request('GET', '/v1/global/ping'));
      assert.equal(hung.status, 200);
      assert.ok(took >= 350, `hang released after ${took} ms`);
      await t.request('POST', '/admin/faults', { body: { kind: 'slow-db', latencyMs: 120, durationMs: 60_000 } });
      const [created, dbTook] = await timed(t.request('POST', '/v1/orders', { headers: post('s1'), body: orderBody() }));
      assert.equal(created.status, 201);
      assert.ok(dbTook >= 110, `slow-db ${dbTook} ms`);
      await t.request('DELETE', '/admin/faults');
      assert.equal((await t.request('POST', '/admin/faults', { body: { kind: 'crash', durationMs: 1000 } })).status, 201);
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(t.crashes, 1);
    } finally {
      await t.close();
    }
  });

  it('a version defect applies to its route for the life of the process and cannot be cleared', async () => {
    const t = testCell({ defect: { route: 'POST /v1/orders', errorRate: 1 } });
    try {
      const res = await t.request('POST', '/v1/orders', { headers: post('d1'), body: orderBody() });
      assert.equal(res.status, 500);
      await t.request('DELETE', '/admin/faults');
      assert.equal((await t.request('POST', '/v1/orders', { headers: post('d1'), body: orderBody() })).status, 500);
      assert.equal((await t.request('GET', '/v1/global/ping')).status, 200);
      const list = (await (await t.request('GET', '/admin/faults')).json()) as { defect: unknown };
      assert.deepEqual(list.defect, { route: 'POST /v1/orders', errorRate: 1 });
    } finally {
      await t.close();
    }
  });
});
