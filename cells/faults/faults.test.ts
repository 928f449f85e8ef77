import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { dbFile } from '../db/open.js';
import { eventually, orderBody, testCell } from '../testing.js';

const post = (key: string) => ({ 'content-type': 'application/json', 'x-market-id': 'm1', 'idempotency-key': key });

/** True when another connection holds the write lock of `probe`'s file (probe's busy timeout is 0). */
function lockHeld(probe: Database.Database): boolean {
  try {
    probe.exec('BEGIN IMMEDIATE');
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return true;
    throw err;
  }
  probe.exec('ROLLBACK');
  return false;
}

/** Resolves right after the write lock goes from free to held (a burst begins), within about a millisecond. */
async function burstBegins(probe: Database.Database, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let free = false;
  while (Date.now() < deadline) {
    const held = lockHeld(probe);
    if (held && free) return;
    free = !held;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`no burst of the write lock began within ${timeoutMs} ms`);
}

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

  it('a fault scoped to a market hits only the /v1 requests naming it; a market on a fault that is not a request fault is refused', async () => {
    const t = testCell();
    try {
      const added = await t.request('POST', '/admin/faults', { body: { kind: 'errors', durationMs: 60_000, market: 'm1' } });
      assert.equal(added.status, 201);
      assert.equal(((await added.json()) as { market?: string }).market, 'm1');
      const failed = await t.request('POST', '/v1/orders', { headers: post('k1'), body: orderBody() });
      assert.equal(failed.status, 500);
      assert.equal(((await failed.json()) as { error: { code: string } }).error.code, 'injected_fault');
      assert.equal((await t.request('GET', '/v1/orders', { headers: { 'x-market-id': 'm1' } })).status, 500);
      const other = await t.request('POST', '/v1/orders', { headers: { ...post('k1'), 'x-market-id': 'm2' }, body: orderBody() });
      assert.equal(other.status, 201, 'another market of the cell is served');
      assert.equal((await t.request('GET', '/v1/orders', { headers: { 'x-market-id': 'm2' } })).status, 200);
      assert.equal((await t.request('GET', '/v1/global/ping')).status, 200, 'a request without a market is served');
      // Nothing of the failed create was written: once the fault is gone, its key makes a new order.
      await t.request('DELETE', '/admin/faults');
      assert.equal((await t.request('POST', '/v1/orders', { headers: post('k1'), body: orderBody() })).status, 201);
      for (const bad of [
        { kind: 'crash', durationMs: 10, market: 'm1' },
        { kind: 'slow-db', durationMs: 10, market: 'm1' },
        { kind: 'no-courier', durationMs: 10, market: 'm1' },
        { kind: 'errors', durationMs: 10, route: 'delivery', market: 'm1' },
        { kind: 'errors', durationMs: 10, market: 'Not A Market' },
      ]) {
        const res = await t.request('POST', '/admin/faults', { body: bad });
        assert.equal(res.status, 400, JSON.stringify(bad));
        const err = ((await res.json()) as { error: { code: string; message: string } }).error;
        assert.equal(err.code, 'invalid_request');
        assert.match(err.message, /market/);
      }
      assert.deepEqual(((await (await t.request('GET', '/admin/faults')).json()) as { faults: unknown[] }).faults, [], 'nothing added');
    } finally {
      await t.close();
    }
  });

  it('hang holds requests until the fault ends; crash calls the crash hook', async () => {
    const t = testCell();
    try {
      await t.request('POST', '/admin/faults', { body: { kind: 'hang', durationMs: 400 } });
      const [hung, took] = await timed(t.request('GET', '/v1/global/ping'));
      assert.equal(hung.status, 200);
      assert.ok(took >= 350, `hang released after ${took} ms`);
      assert.equal((await t.request('POST', '/admin/faults', { body: { kind: 'crash', durationMs: 1000 } })).status, 201);
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(t.crashes, 1);
    } finally {
      await t.close();
    }
  });

  it('slow-db holds the database write lock in bursts: a write waits out the burst, a read does not; the end of the fault frees the lock and stops the holder', async () => {
    const t = testCell();
    // A connection of its own to the cell's file, never waiting: tells whether the write lock is taken.
    const probe = new Database(dbFile(t.cell.config.dataDir), { timeout: 0 });
    try {
      const first = await t.request('POST', '/v1/orders', { headers: post('s0'), body: orderBody() });
      const id = ((await first.json()) as { id: string }).id;
      assert.equal(lockHeld(probe), false, 'no lock before the fault');
      const added = await t.request('POST', '/admin/faults', { body: { kind: 'slow-db', latencyMs: 300, durationMs: 2500 } });
      const expiresAt = Date.parse(((await added.json()) as { expiresAt: string }).expiresAt);

      // Right after a burst begins, a write waits (busy_timeout) for nearly all of it.
      await burstBegins(probe, 3000);
      const [created, writeMs] = await timed(t.request('POST', '/v1/orders', { headers: post('s1'), body: orderBody() }));
      assert.equal(created.status, 201);
      assert.ok(writeMs >= 250, `a write in a 300 ms burst took ${writeMs} ms`);
      // WAL: a reader never waits for the writer (none of this cell's writers is waiting now).
      await burstBegins(probe, 3000);
      const [read, readMs] = await timed(t.request('GET', `/v1/orders/${id}`, { headers: { 'x-market-id': 'm1' } }));
      assert.equal(read.status, 200);
      assert.ok(readMs < 150, `a read in a 300 ms burst took ${readMs} ms`);
      assert.ok(t.cell.ctx.slowDb.running);

      // The fault ends on its own: the holder commits, closes its connection and exits.
      await eventually(() => (t.cell.ctx.slowDb.running ? undefined : true), 3000, 'the lock holder to exit');
      assert.ok(Date.now() >= expiresAt - 5, 'not before the fault ends');
      assert.ok(Date.now() - expiresAt < 1000, `holder gone ${Date.now() - expiresAt} ms after the end`);
      for (let i = 0; i < 20; i++) {
        assert.equal(lockHeld(probe), false, 'no lock left behind');
        await new Promise((r) => setTimeout(r, 15));
      }
      const [, afterMs] = await timed(t.request('POST', '/v1/orders', { headers: post('s2'), body: orderBody() }));
      assert.ok(afterMs < 150, `a write after the fault took ${afterMs} ms`);

      // A fault is answered once the lock is held; clearing the faults stops the holder at once, mid-burst.
      await t.request('POST', '/admin/faults', { body: { kind: 'slow-db', latencyMs: 5000, durationMs: 60_000 } });
      assert.equal(lockHeld(probe), true, 'held when the fault is answered');
      await t.request('DELETE', '/admin/faults');
      await eventually(() => (t.cell.ctx.slowDb.running ? undefined : true), 1000, 'the lock holder to exit after DELETE');
      assert.equal(lockHeld(probe), false);

      // Closing the cell stops a running holder too.
      await t.request('POST', '/admin/faults', { body: { kind: 'slow-db', latencyMs: 5000, durationMs: 60_000 } });
      assert.equal(lockHeld(probe), true);
    } finally {
      await t.close();
      assert.equal(t.cell.ctx.slowDb.running, false, 'no holder after close');
      probe.close();
    }
  });

  it('under slow-db the background writers wait instead of failing: orders still go all the way to DELIVERED', async () => {
    const t = testCell({}, { background: true });
    try {
      await t.request('POST', '/admin/faults', { body: { kind: 'slow-db', latencyMs: 100, durationMs: 60_000 } });
      const ids: string[] = [];
      for (const key of ['b1', 'b2', 'b3']) {
        const res = await t.request('POST', '/v1/orders', { headers: post(key), body: orderBody() });
        assert.equal(res.status, 201);
        ids.push(((await res.json()) as { id: string }).id);
      }
      for (const id of ids) {
        const order = await eventually(
          async () => {
            const o = (await (await t.request('GET', `/v1/orders/${id}`, { headers: { 'x-market-id': 'm1' } })).json()) as {
              status: string;
              history: unknown[];
            };
            return o.status === 'DELIVERED' ? o : undefined;
          },
          10_000,
          `${id} DELIVERED`,
        );
        assert.equal(order.history.length, 4, 'PENDING, CONFIRMED, DELIVERING, DELIVERED once each');
      }
      assert.ok(t.cell.ctx.slowDb.bursts >= 2, `${t.cell.ctx.slowDb.bursts} bursts`);
      // A step that failed (SQLITE_BUSY, say) would have left its error on the saga.
      const errors = t.cell.db.prepare('SELECT last_error FROM sagas WHERE last_error IS NOT NULL').all();
      assert.deepEqual(errors, []);
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
