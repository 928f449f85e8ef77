/**
 * A split cell's reconciliation on the order service's own database (cells/reconcile/split.ts),
 * the delivery service's answers given by a stub reader: the repairs it makes (an `order.created`
 * in the outbox, a missed delivery event applied), the stale bound, frozen markets left alone.
 * Against the real broker and processes: cells/split-reconcile.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDb } from '../db/open.js';
import { stmt } from '../db/stmt.js';
import { tempDir } from '../testing.js';
import type { DeliverySide } from './split-compare.js';
import { reconcileSplit } from './split.js';

const NOW = Date.now();

function addOrder(db: ReturnType<typeof openDb>, id: string, status: string, market = 'm1', at = NOW - 60_000): void {
  stmt(
    db,
    `INSERT INTO orders (id, market, customer_id, items, address, total_cents, status, created_at, updated_at, seq)
     VALUES (?, ?, 'c', '[]', '1 Main St', 1, ?, ?, ?, 0)`,
  ).run(id, market, status, at, at);
}

describe('split reconciliation on the order database', () => {
  it('republishes lost creates, applies missed delivery events, and leaves fresh orders and frozen markets alone', async () => {
    const tmp = tempDir();
    const db = openDb(tmp.dir);
    try {
      addOrder(db, 'ord_lost', 'PENDING');
      addOrder(db, 'ord_behind', 'CONFIRMED');
      addOrder(db, 'ord_gone', 'DELIVERING');
      addOrder(db, 'ord_fresh', 'PENDING', 'm1', NOW);
      addOrder(db, 'ord_frozen', 'PENDING', 'm2');
      stmt(db, "INSERT INTO frozen_markets (market, at) VALUES ('m2', 0)").run();
      const asked: string[][] = [];
      const side: DeliverySide[] = [
        {
          orderId: 'ord_behind',
          status: 'DELIVERED',
          reason: null,
          courier: 'c-1',
          updatedAt: NOW - 30_000,
          saga: { state: 'DONE', active: false },
        },
      ];
      const reader = { read: async (ids: readonly string[]) => (asked.push([...ids]), side), close: async () => undefined };
      const report = await reconcileSplit({ db, reader, backlog: async () => 0, staleMs: 10_000 }, NOW);
      assert.deepEqual(asked, [['ord_behind', 'ord_gone', 'ord_lost']]);
      assert.deepEqual(report.found, {
        pendingWithoutDelivery: 1,
        missingDelivery: 1,
        statusMismatch: 1,
        orphanDelivery: 0,
        missingSaga: 0,
      });
      assert.deepEqual(report.fixed, report.found);
      const outbox = stmt(db, 'SELECT key, type, payload FROM outbox ORDER BY id').all() as {
        key: string;
        type: string;
        payload: string;
      }[];
      assert.deepEqual(
        outbox.map((r) => [r.key, r.type]),
        [
          ['ord_gone', 'order.created'],
          ['ord_lost', 'order.created'],
        ],
      );
      // The create carries what the delivery side needs to recreate the delivery.
      assert.equal((JSON.parse(outbox[1]!.payload) as { address: string }).address, '1 Main St');
      const status = (id: string) => (stmt(db, 'SELECT status FROM orders WHERE id = ?').get(id) as { status: string }).status;
      assert.equal(status('ord_behind'), 'DELIVERED');

      // Again: the creates now wait in the outbox, the order caught up: nothing found.
      side.length = 0;
      const again = await reconcileSplit({ db, reader, backlog: async () => 0, staleMs: 10_000 }, NOW);
      assert.deepEqual(Object.values(again.found), [0, 0, 0, 0, 0]);
    } finally {
      db.close();
      tmp.cleanup();
    }
  });
});
