import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ProcessScope } from '../infra/process.js';
import { dbFile } from './db/open.js';
import { client, eventually, orderBody, postOrder, startCellProcess, tempDir } from './testing.js';

const TIMERS = [
  '--assign-delay',
  '5ms',
  '--pickup-after',
  '80ms',
  '--deliver-after',
  '80ms',
  '--lease-ttl',
  '1s',
  '--reconcile-interval',
  '1s',
  '--reconcile-stale',
  '2s',
];

describe('kill -9 under write load', () => {
  it('loses no accepted order, duplicates no delivery, and finishes every saga after a restart on the same data', async () => {
    const tmp = tempDir();
    await new ProcessScope()
      .run(async (scope) => {
        const first = await startCellProcess(scope, { id: 'cell-k', dataDir: tmp.dir, args: TIMERS });
        let c = client(first.url);
        const accepted = new Map<string, string>(); // idempotency key → order id
        const unknown = new Set<string>(); // sent, no answer (the crash)
        let stop = false;
        const worker = async (w: number) => {
          for (let i = 0; !stop; i++) {
            const key = `w${w}-${i}`;
            try {
              const res = await postOrder(c, 'mk', key, orderBody({ customerId: key }));
              if (res.status === 201 || res.status === 200) accepted.set(key, ((await res.json()) as { id: string }).id);
              else throw new Error(`unexpected ${res.status}`);
            } catch {
              unknown.add(key);
              return;
            }
          }
        };
        const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
        await eventually(() => (accepted.size >= 150 ? true : undefined), 20_000, '150 accepted orders');
        await first.proc.kill(); // SIGKILL, mid-load
        stop = true;
        await load;
        assert.ok(unknown.size > 0, 'the kill happened with requests in flight');

        const second = await startCellProcess(scope, {
          id: 'cell-k',
          dataDir: tmp.dir,
          port: first.port,
          args: TIMERS,
          name: 'cell-k-restarted',
        });
        c = client(second.url);
        // Every accepted order is there.
        for (const [key, id] of accepted) {
          const res = await c(`/v1/orders/${id}`);
          assert.equal(res.status, 200, `accepted order ${key} ${id} lost`);
        }
        // Requests without an answer: the client retries with the same key; each yields one order.
        for (const key of unknown) {
          const res = await postOrder(c, 'mk', key, orderBody({ customerId: key }));
          assert.ok(res.status === 200 || res.status === 201, `retry of ${key}: ${res.status}`);
          accepted.set(key, ((await res.json()) as { id: string }).id);
        }
        // Every saga finishes.
        await eventually(
          async () => {
            const s = (await (await c('/admin/markets/mk/summary')).json()) as { orders: number; pending: Record<string, number> };
            return s.orders === accepted.size && Object.values(s.pending).every((n) => n === 0) ? s : undefined;
          },
          30_000,
          'all pending work done',
        );
        const db = new Database(dbFile(tmp.dir), { readonly: true });
        try {
          const orders = db.prepare('SELECT id, status FROM orders').all() as { id: string; status: string }[];
          assert.equal(orders.length, accepted.size, 'one order per idempotency key, none extra');
          assert.deepEqual(new Set(orders.map((o) => o.id)), new Set(accepted.values()));
          assert.ok(
            orders.every((o) => o.status === 'DELIVERED'),
            'every order delivered',
          );
          const deliveries = db.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'DELIVERED'").get() as { n: number };
          assert.equal(deliveries.n, accepted.size);
          const sagas = db.prepare("SELECT COUNT(*) AS n FROM sagas WHERE state = 'DONE' AND active = 0").get() as { n: number };
          assert.equal(sagas.n, accepted.size, 'every saga finished');
          // No step applied twice: every history is exactly the four steps once.
          const bad = db
            .prepare(
              "SELECT order_id, group_concat(status, ',') AS h FROM (SELECT * FROM order_history ORDER BY order_id, n) GROUP BY order_id",
            )
            .all() as { order_id: string; h: string }[];
          assert.equal(
            bad.filter((r) => r.h !== 'PENDING,CONFIRMED,DELIVERING,DELIVERED').length,
            0,
            JSON.stringify(bad.find((r) => r.h !== 'PENDING,CONFIRMED,DELIVERING,DELIVERED')),
          );
        } finally {
          db.close();
        }
      })
      .finally(tmp.cleanup);
  });
});
