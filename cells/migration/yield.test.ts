/**
 * Unit: a big market's import, export and checksum give the cell's event loop a turn every chunk
 * instead of running as one long stall (bench:operators measures the stall; this proves the
 * turns happen). A callback queued just as the work starts runs while the work is under way.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDb } from '../db/open.js';
import { stmt } from '../db/stmt.js';
import { tempDir } from '../testing.js';
import { exportMarket } from './export.js';
import { importRows, parseExport } from './import.js';
import { ordersChecksum, purgeMarket, warmOrdersChecksum } from './summary.js';
import { ROWS_PER_TURN } from './turns.js';

const ORDERS = 2500;

function exportText(market: string, n: number): string {
  const lines = [JSON.stringify({ type: 'header', market, cursor: 0 })];
  for (let i = 0; i < n; i++) {
    lines.push(
      JSON.stringify({
        type: 'order',
        id: `ord_${market}_${i}`,
        market,
        customer_id: `c-${i}`,
        items: '[]',
        address: '1 Market St',
        total_cents: 100 + i,
        status: 'DELIVERED',
        cancel_reason: null,
        created_at: 1,
        updated_at: 1,
      }),
    );
  }
  lines.push(JSON.stringify({ type: 'end', cursor: 7, rows: n }));
  return `${lines.join('\n')}\n`;
}

/** Runs `fn` with a fresh cell database in a temporary directory, then closes and removes both. */
async function withDb(fn: (db: ReturnType<typeof openDb>, dir: string) => Promise<void>): Promise<void> {
  const tmp = tempDir();
  const db = openDb(tmp.dir);
  try {
    await fn(db, tmp.dir);
  } finally {
    db.close();
    tmp.cleanup();
  }
}

const orders = (db: ReturnType<typeof openDb>, market: string) =>
  (stmt(db, 'SELECT COUNT(*) AS n FROM orders WHERE market = ?').get(market) as { n: number }).n;

describe('big market work yields to the event loop', () => {
  it('parses and writes an import a chunk at a time (a queued callback sees a part of the rows)', async () => {
    await withDb(async (db) => {
      const text = exportText('big', ORDERS);
      let turnsDuringParse = 0;
      const ticking = setInterval(() => (turnsDuringParse += 1), 0);
      const parsed = await parseExport(text, 'big');
      clearInterval(ticking);
      assert.equal(parsed.rows.length, ORDERS);
      assert.ok(turnsDuringParse >= 1, `the loop turned ${turnsDuringParse} times during the parse`);

      // counts seen by a callback at every turn of the loop while the import runs
      const seen: number[] = [];
      let done = false;
      const look = () => {
        seen.push(orders(db, 'big'));
        if (!done) setImmediate(look);
      };
      setImmediate(look);
      const res = await importRows(db, 'big', parsed, 1000);
      done = true;
      assert.deepEqual(res, { rows: ORDERS, cursor: 7 });
      assert.ok(seen.includes(ROWS_PER_TURN), `the loop turned after the first chunk, before the rest (seen ${seen.join(',')})`);
      assert.equal(orders(db, 'big'), ORDERS);
      assert.ok(stmt(db, 'SELECT until FROM market_holds WHERE market = ?').get('big'), 'the hold was written');

      // the same stream again changes nothing (idempotent)
      const before = ordersChecksum(db, 'big');
      await importRows(db, 'big', await parseExport(text, 'big'), 1000);
      assert.deepEqual(ordersChecksum(db, 'big'), before);
    });
  });

  it("refuses a stream that would take over another market's orders, writing nothing", async () => {
    await withDb(async (db) => {
      await importRows(db, 'big', await parseExport(exportText('big', 3), 'big'), 1000);
      const stolen = exportText('big', 3).replaceAll('"market":"big"', '"market":"thief"');
      const before = ordersChecksum(db, 'big');
      await assert.rejects(importRows(db, 'thief', await parseExport(stolen, 'thief'), 1000), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'conflict');
        assert.match(err.message, /order ord_big_0 belongs to market big/);
        return true;
      });
      assert.deepEqual(ordersChecksum(db, 'big'), before);
      assert.equal(orders(db, 'thief'), 0);
      assert.equal(stmt(db, 'SELECT 1 FROM market_holds WHERE market = ?').get('thief'), undefined, 'no hold written');
    });
  });

  it('warms the checksum a chunk at a time, to the same value as one consistent read', async () => {
    await withDb(async (db, dir) => {
      await importRows(db, 'big', await parseExport(exportText('big', ORDERS), 'big'), 1000);
      let ranDuring = false;
      setImmediate(() => (ranDuring = true));
      const warm = warmOrdersChecksum(db, 'big');
      assert.equal(ranDuring, false);
      await warm;
      assert.equal(ranDuring, true, 'the warm-up gave the loop a turn');
      const warmed = ordersChecksum(db, 'big');
      const db2 = openDb(dir); // a fresh connection: no state, one consistent read
      try {
        assert.deepEqual(ordersChecksum(db2, 'big'), warmed);
        assert.equal(warmed.orders, ORDERS);
      } finally {
        db2.close();
      }
    });
  });

  it('purges a big market a chunk at a time, its hold last', async () => {
    await withDb(async (db) => {
      await importRows(db, 'big', await parseExport(exportText('big', ORDERS), 'big'), 60_000);
      await importRows(db, 'other', await parseExport(exportText('other', 3), 'other'), 60_000);
      let midway: { orders: number; held: boolean } | undefined;
      setImmediate(() => {
        midway = { orders: orders(db, 'big'), held: stmt(db, 'SELECT 1 FROM market_holds WHERE market = ?').get('big') !== undefined };
      });
      const purged = await purgeMarket(db, 'big');
      assert.deepEqual(midway, { orders: ORDERS - 1000, held: true }, 'a callback ran after the first chunk; the hold was still there');
      assert.equal(purged.orders, ORDERS);
      assert.equal(purged.market_holds, 1);
      assert.equal(orders(db, 'big'), 0);
      assert.equal(orders(db, 'other'), 3, 'another market is untouched');
      assert.deepEqual(await purgeMarket(db, 'big'), { ...Object.fromEntries(Object.keys(purged).map((k) => [k, 0])) }, 'idempotent');
    });
  });

  it('exports a big market in chunks with turns of the loop between them', async () => {
    await withDb(async (db, dir) => {
      await importRows(db, 'big', await parseExport(exportText('big', ORDERS), 'big'), 1000);
      let turns = 0;
      const ticking = setInterval(() => (turns += 1), 0);
      let text = '';
      for await (const chunk of exportMarket(dir, 'big')) text += chunk;
      clearInterval(ticking);
      assert.ok(turns >= 1, `the loop turned ${turns} times during the export`);
      assert.equal((await parseExport(text, 'big')).rows.length, ORDERS);
    });
  });
});
