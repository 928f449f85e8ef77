/**
 * Reconciliation of a split cell over a real broker
 * (docs/kafka.md §Reconciliation of a split cell): one order process and one delivery process of
 * one cell. Two real mismatches between their databases are made: an order set back to CONFIRMED in
 * the order database while its delivery is DELIVERED (a missed `delivery.delivered`), and an order
 * whose delivery, saga and order facts are deleted from the delivery database (the delivery side
 * lost it). The order service's scheduled reconciliation finds both, repairs them (the missed event
 * applied; the create published again, so the delivery side delivers it again), counts them in its
 * metrics and logs the alert line; a run after finds nothing and the gauge is back at 0. The
 * delivery side's read validates its input and wants the admin token.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { startKafka } from '../infra/harness/kafka.js';
import { freePort } from '../infra/ports.js';
import { ProcessScope } from '../infra/process.js';
import { dbFile } from './db/open.js';
import { client, eventually, orderBody, postOrder, startCellProcess, tempDir } from './testing.js';

const ROOT = new URL('..', import.meta.url).pathname;
const TIMERS = ['--assign-delay', '5ms', '--pickup-after', '100ms', '--deliver-after', '100ms', '--lease-ttl', '1s'];

/** One sample's value from a metrics text (0 when absent). */
function sample(text: string, line: RegExp): number {
  const m = text.split('\n').find((l) => line.test(l));
  return m === undefined ? 0 : Number(m.slice(m.lastIndexOf(' ') + 1));
}

describe('reconciliation of a split cell (real broker)', () => {
  it('finds and repairs mismatches between the order and delivery databases, and raises the alert', async () => {
    const broker = await startKafka({ name: 'split-reconcile' });
    const tmp = tempDir();
    try {
      await new ProcessScope().run(async (scope) => {
        const kafka = ['--log', 'kafka', '--kafka', broker.bootstrap, '--partitions', '2'];
        const dport = await freePort();
        const orderDir = join(tmp.dir, 'order');
        const deliveryDir = join(tmp.dir, 'delivery');
        const reconcile = ['--reconcile-interval', '1500ms', '--reconcile-stale', '1s', '--delivery-url', `http://127.0.0.1:${dport}`];
        const order = await startCellProcess(scope, {
          id: 'cell-rc',
          dataDir: orderDir,
          args: [...TIMERS, ...kafka, '--role', 'order', ...reconcile],
          name: 'order',
        });
        const delivery = await startCellProcess(scope, {
          id: 'cell-rc',
          port: dport,
          dataDir: deliveryDir,
          args: [...TIMERS, ...kafka, '--role', 'delivery'],
          name: 'delivery',
        });
        const c = client(order.url);
        const d = client(delivery.url);

        // The delivery side's read: the admin token, a valid body, errors in the contract's shape.
        const read = (body: unknown, auth = true) =>
          d('/admin/reconcile/deliveries', {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(auth ? {} : { authorization: 'Bearer wrong' }) },
            body: JSON.stringify(body),
          });
        assert.equal((await read({ orderIds: ['ord_00000000-0000-0000-0000-000000000000'] }, false)).status, 401);
        for (const bad of [
          {},
          { orderIds: [] },
          { orderIds: ['x'] },
          { orderIds: Array(501).fill('ord_00000000-0000-0000-0000-000000000000') },
        ]) {
          const res = await read(bad);
          assert.equal(res.status, 400, JSON.stringify(bad).slice(0, 80));
          assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_request');
        }
        assert.equal((await d('/admin/reconcile', { method: 'POST' })).status, 409);

        const ids: string[] = [];
        for (const k of ['a', 'b', 'c']) {
          const res = await postOrder(c, 'mk', k, orderBody({ customerId: k }));
          assert.equal(res.status, 201);
          ids.push(((await res.json()) as { id: string }).id);
        }
        const [behind, lost] = ids as [string, string];
        const statusOf = async (id: string) => ((await (await c(`/v1/orders/${id}`)).json()) as { status: string }).status;
        const allDelivered = () =>
          eventually(
            async () => ((await Promise.all(ids.map(statusOf))).every((s) => s === 'DELIVERED') ? true : undefined),
            20_000,
            'every order DELIVERED',
          );
        await allDelivered();
        const answer = (await (await read({ orderIds: ids })).json()) as { deliveries: { orderId: string; status: string }[] };
        assert.deepEqual(answer.deliveries.map((x) => x.status).sort(), ['DELIVERED', 'DELIVERED', 'DELIVERED']);
        // Past the stale bound, so the reconciler counts them.
        await new Promise((r) => setTimeout(r, 1100));

        // Break them: the order side missed `behind`'s last event; the delivery side lost `lost`.
        const odb = new Database(dbFile(orderDir), { timeout: 10_000 });
        const ddb = new Database(dbFile(deliveryDir), { timeout: 10_000 });
        try {
          odb.prepare("UPDATE orders SET status = 'CONFIRMED' WHERE id IN (?, ?)").run(behind, lost);
          for (const table of ['deliveries', 'sagas']) ddb.prepare(`DELETE FROM ${table} WHERE order_id = ?`).run(lost);
          ddb.prepare('DELETE FROM orders WHERE id = ?').run(lost);
        } finally {
          odb.close();
          ddb.close();
        }
        assert.equal(await statusOf(behind), 'CONFIRMED');

        // The scheduled run finds both, repairs both, counts them and logs the alert line.
        const metrics = async () => (await c('/metrics')).text();
        await eventually(
          async () => {
            const m = await metrics();
            const kinds = ['statusMismatch', 'missingDelivery'].map((k) =>
              sample(m, new RegExp(`^cellsim_reconcile_mismatches_total\\{[^}]*kind="${k}"`)),
            );
            return kinds.every((n) => n >= 1) ? true : undefined;
          },
          10_000,
          'the mismatches counted by kind',
        );
        assert.match(order.proc.output(), /reconciliation alert/);
        await allDelivered();
        assert.equal(((await (await read({ orderIds: [lost] })).json()) as { deliveries: unknown[] }).deliveries.length, 1);

        // A run that finds nothing clears the gauge; the report keeps the all-in-one shape.
        const res = await c('/admin/reconcile', { method: 'POST' });
        assert.equal(res.status, 200);
        const report = (await res.json()) as { found: Record<string, number>; fixed: Record<string, number> };
        assert.deepEqual(Object.keys(report.found).sort(), [
          'missingDelivery',
          'missingSaga',
          'orphanDelivery',
          'pendingWithoutDelivery',
          'statusMismatch',
        ]);
        assert.deepEqual(Object.values(report.found), [0, 0, 0, 0, 0]);
        assert.equal(sample(await metrics(), /^cellsim_reconcile_last_found\b/), 0);
      });
    } finally {
      await broker.stop();
      tmp.cleanup();
    }
  });

  it('--delivery-url without --role order is a usage error that writes nothing', () => {
    const tmp = tempDir();
    try {
      const data = join(tmp.dir, 'data');
      const base = ['bin/cellctl.js', 'cell', '--id', 'c1', '--port', '0', '--data', data, '--no-consul'];
      const res = spawnSync(process.execPath, [...base, '--delivery-url', 'http://127.0.0.1:1'], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(res.status, 1, res.stderr);
      assert.match(res.stderr, /--delivery-url is for --role order/);
      assert.equal(existsSync(data), false);
    } finally {
      tmp.cleanup();
    }
  });
});
