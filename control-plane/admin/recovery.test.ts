/**
 * `evacuate --from-backup` of a split cell (real Consul, real SQLite copies taken by the cells'
 * own backup, stand-in cells that check each import with the cells' own parser for the kind of
 * process it reaches): the order service's copy goes to a split target's order service, the
 * delivery service's copy to its delivery service, never to a cell of the other kind; a split
 * cell without its delivery copy is refused. The all-in-one path is tested end to end in
 * topology/cell-loss.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { ContinuousBackup } from '../../cells/db/backup.js';
import { openDb } from '../../cells/db/open.js';
import { parseExport } from '../../cells/migration/import.js';
import { ROW_TYPES_OF } from '../../cells/migration/rows.js';
import { ConsulClient } from '../../shared/consul/client.js';
import { KvStore } from '../../shared/consul/kv-store.js';
import { HttpError } from '../../shared/errors.js';
import { KvLayout, MarketRecordSchema } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import { MarketWriter } from '../../shared/markets/writer.js';
import { recoverFromBackup } from './recovery.js';

const log = createLogger('test', {});
log.level = 'silent';

/** A database like a cell process's, with `rows` written, copied by the cells' backup into `dir`. */
async function copyOf(dir: string, rows: (db: ReturnType<typeof openDb>) => void): Promise<void> {
  const live = mkdtempSync(join(tmpdir(), 'cellsim-recovery-live-'));
  const db = openDb(live);
  try {
    rows(db);
    await new ContinuousBackup(db, dir, 1000, log).once();
  } finally {
    db.close();
    rmSync(live, { recursive: true, force: true });
  }
}

const order = (id: string, market: string, fact: boolean) => [
  id,
  market,
  fact ? '' : 'c-1',
  fact ? '[]' : '[{"sku":"tea","qty":1,"priceCents":300}]',
  fact ? '' : '1 Main St',
  fact ? 0 : 300,
];

describe('recovery of a split cell from its backups (real Consul, stand-in cells)', () => {
  let consul: ConsulAgent;
  let data: string;
  const layout = new KvLayout('rec/');

  before(async () => {
    consul = await startConsul();
    data = mkdtempSync(join(tmpdir(), 'cellsim-recovery-'));
  });
  after(async () => {
    await consul.proc.stop();
    rmSync(data, { recursive: true, force: true });
  });

  it("moves the order service's rows and the delivery service's rows to the two services of a split cell", async () => {
    // cell-1 (split) is dead; cell-2 is split with little room, cell-3 runs as one process with much more.
    await seedKv(
      consul.url,
      {
        cells: { 'cell-0': { canary: true, capacity: 1 }, 'cell-1': {}, 'cell-2': { capacity: 5 }, 'cell-3': { capacity: 100 } },
        markets: { 'm-a': { cell: 'cell-1', epoch: 3 }, 'm-b': { cell: 'cell-1' }, 'm-c': { cell: 'cell-0' } },
      },
      layout.prefix,
    );
    const insertOrder = (db: ReturnType<typeof openDb>, id: string, market: string, status: string, fact: boolean) => {
      db.prepare(
        'INSERT INTO orders (id, market, customer_id, items, address, total_cents, status, created_at, updated_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, 1, 2, 1)',
      ).run(...order(id, market, fact), status);
      db.prepare("INSERT INTO order_history (order_id, n, market, status, at, seq) VALUES (?, 1, ?, 'PENDING', 1, 1)").run(id, market);
    };
    const backups = join(data, 'backups', 'cell-1');
    await copyOf(backups, (db) => {
      insertOrder(db, 'o1', 'm-a', 'CONFIRMED', false);
      insertOrder(db, 'o2', 'm-a', 'PENDING', false);
      insertOrder(db, 'o3', 'm-b', 'DELIVERING', false);
      db.prepare("INSERT INTO idempotency (market, key, body_hash, order_id, created_at, seq) VALUES ('m-a', 'k1', 'h', 'o1', 1, 1)").run();
    });
    await copyOf(join(backups, 'delivery'), (db) => {
      for (const [id, market, status] of [
        ['o1', 'm-a', 'ASSIGNED'],
        ['o3', 'm-b', 'PICKED_UP'],
      ] as const) {
        insertOrder(db, id, market, 'CONFIRMED', true);
        db.prepare(
          "INSERT INTO deliveries (order_id, market, status, courier, created_at, updated_at, seq) VALUES (?, ?, ?, 'courier-1', 1, 2, 1)",
        ).run(id, market, status);
        db.prepare(
          "INSERT INTO sagas (order_id, market, state, active, next_at, deadline_at, created_at, updated_at, seq) VALUES (?, ?, 'CONFIRMED', 1, 5, 9, 1, 2, 1)",
        ).run(id, market);
      }
    });

    const splitCells = new Set(['cell-0', 'cell-1', 'cell-2']);
    const imports: { market: string; to: string; service: string; types: string[] }[] = [];
    const cells = {
      healthy: async (cell: string) => cell !== 'cell-1',
      split: async (cell: string) => {
        if (cell === 'cell-1') throw new Error('cell-1 has no passing instance');
        return splitCells.has(cell);
      },
      registered: async (cell: string, service?: string) => (service === 'delivery' && splitCells.has(cell) ? [`http://${cell}`] : []),
      importInto: async (market: string, to: string, body: ReadableStream<Uint8Array>, service: 'cell' | 'delivery' = 'cell') => {
        const text = await new Response(body).text();
        // The import of the process it reaches: an order service takes order lines, a delivery service facts and deliveries.
        const kind = !splitCells.has(to) ? 'all' : service === 'delivery' ? 'delivery' : 'order';
        const parsed = await parseExport(text, market, ROW_TYPES_OF[kind]);
        imports.push({ market, to, service, types: [...new Set(parsed.rows.map((r) => r.type))].sort() });
        return { rows: parsed.rows.length, cursor: parsed.cursor };
      },
    };
    const kv = new KvStore(consul.url);
    const deps = {
      kv,
      layout,
      markets: new MarketWriter(new ConsulClient({ url: consul.url }), layout),
      cells,
      dataDir: data,
      log,
    };

    const plan = await recoverFromBackup(deps, 'cell-1', true);
    assert.deepEqual(
      plan.markets.map((m) => [m.market, m.to, m.orders, m.delivery?.deliveries]),
      [
        ['m-a', 'cell-2', 2, 1],
        ['m-b', 'cell-2', 1, 1],
      ],
      'split targets only: cell-3 has more room but runs as one process',
    );
    assert.equal(imports.length, 0, 'a dry run imports nothing');

    const report = await recoverFromBackup(deps, 'cell-1', false);
    assert.deepEqual(
      imports.map((i) => [i.market, i.to, i.service, i.types.join(',')]),
      [
        ['m-a', 'cell-2', 'delivery', 'delivery,fact,history,saga'],
        ['m-a', 'cell-2', 'cell', 'history,idempotency,order'],
        ['m-b', 'cell-2', 'delivery', 'delivery,fact,history,saga'],
        ['m-b', 'cell-2', 'cell', 'history,order'],
      ],
    );
    assert.deepEqual(
      report.markets.map((m) => [m.market, m.rows, m.delivery?.rows]),
      [
        ['m-a', 5, 4],
        ['m-b', 2, 4],
      ],
    );
    assert.ok(report.delivery, 'the report names the delivery copy');
    assert.equal(report.recoveryPoint, [report.backup.startedAt, report.delivery.recoveryPoint].sort()[0], 'the older recovery point');
    const moved = await kv.getJson(MarketRecordSchema, layout.marketKey('m-a'));
    assert.deepEqual([moved?.value.cell, moved?.value.epoch], ['cell-2', 4]);

    // Without its delivery copy a split cell is refused, writing nothing.
    rmSync(join(backups, 'delivery'), { recursive: true, force: true });
    await seedKv(consul.url, { markets: { 'm-d': { cell: 'cell-1' } } }, layout.prefix);
    await assert.rejects(
      recoverFromBackup(deps, 'cell-1', false),
      (e: unknown) =>
        e instanceof HttpError &&
        e.code === 'conflict' &&
        /cell-1 is split into order and delivery services and its delivery service has no backup/.test(e.message),
    );
    assert.equal((await kv.getJson(MarketRecordSchema, layout.marketKey('m-d')))?.value.cell, 'cell-1');
  });
});
