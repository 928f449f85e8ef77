/**
 * Market migration between two split cells over real brokers
 * (docs/kafka.md §Market migration on Kafka): real Consul, a real KRaft broker per cell (as
 * `cellctl up --log kafka` runs them: both cells' delivery services are group `delivery`), and per
 * cell an order-service and a delivery-service process registered in Consul, moved by the control plane's migration state machine (its real HTTP cell client). A
 * market with orders in every state (delivered, assigned, picked up, created and still on the
 * orders topic) moves under a little load, routed by its Consul record and retried while frozen.
 * Right after the flip the target's delivery service holds the very deliveries and sagas of the
 * frozen source (states, couriers), some still under way; then every acknowledged order is on the
 * target exactly once, every delivery under way at the freeze finishes there (its saga goes on, it
 * does not start again) and every order reaches DELIVERED, and nothing of the market is left in
 * either service of the source, while another market of the source is untouched.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startConsul } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { startKafka } from '../../infra/harness/kafka.js';
import { ProcessScope } from '../../infra/process.js';
import { client, eventually, orderBody, postOrder, startCellProcess, tempDir, TEST_TOKEN } from '../../cells/testing.js';
import { ConsulClient } from '../../shared/consul/client.js';
import { KvStore } from '../../shared/consul/kv-store.js';
import { KvLayout, MarketRecordSchema, type MigrationRecord } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import { openSession } from '../admin/session.js';
import { HttpCellAdmin, type MarketSummary } from './cell-client.js';
import { Migrator, type MigrationPlan } from './migrator.js';

/** Deliveries take ~3 s after assignment, so the freeze finds them in every state. */
const TIMERS = ['--assign-delay', '5ms', '--pickup-after', '1200ms', '--deliver-after', '1200ms', '--lease-ttl', '2s'];
const MARKET = 'mv';

type Send = ReturnType<typeof client>;
interface DeliverySide {
  orderId: string;
  status: string;
  courier: string | null;
  saga: { state: string; active: boolean } | null;
}

describe('market migration between split cells (real broker, real Consul)', () => {
  it('moves orders, deliveries, sagas and events in flight with no loss and no duplicate', async () => {
    const log = createLogger('test', {});
    log.level = 'silent';
    const tmp = tempDir('cellsim-split-mig-');
    const t0 = Date.now();
    const at: Record<string, number> = {};
    const lap = (what: string) => (at[what] = Date.now() - t0);
    const started = await Promise.allSettled(['a', 'b'].map((c) => startKafka({ name: `split-migration-${c}`, heap: '384m' })));
    const brokers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      for (const r of started) if (r.status === 'rejected') throw r.reason;
      await new ProcessScope().run(async (scope) => {
        const consul = await startConsul();
        scope.adopt(consul.proc);
        await seedKv(consul.url, {
          cells: { 'cell-a': {}, 'cell-b': {} },
          markets: { [MARKET]: { cell: 'cell-a', epoch: 1 }, stay: { cell: 'cell-a' } },
        });
        // No scheduled reconciliation: what reaches the target must be the migration's doing.
        // Imported sagas wait 3 s: the states right after the flip are the frozen source's.
        const common = [...TIMERS, '--import-hold', '3s', '--reconcile-interval', '10m'];
        const services: Record<string, { order: Send; delivery: Send }> = {};
        for (const [i, cell] of ['cell-a', 'cell-b'].entries()) {
          const kafka = ['--log', 'kafka', '--kafka', brokers[i]!.bootstrap, '--partitions', '4'];
          // One after the other: the first creates the cell's topics.
          const start = (role: 'order' | 'delivery') =>
            startCellProcess(scope, {
              id: cell,
              dataDir: join(tmp.dir, cell, role),
              consul: consul.url,
              args: [...common, ...kafka, '--role', role],
              name: `${cell}.${role}`,
            });
          const order = await start('order');
          const delivery = await start('delivery');
          services[cell] = { order: client(order.url), delivery: client(delivery.url) };
        }
        lap('cells');
        const a = services['cell-a']!;
        const b = services['cell-b']!;
        const kv = new KvStore(consul.url);
        const layout = new KvLayout('cellsim/');
        const session = await openSession(kv, 'cp-split-test', log);
        const cells = new HttpCellAdmin(new ConsulClient({ url: consul.url }), TEST_TOKEN);
        const acked = new Set<string>();
        let burst = 0;
        const migrator = new Migrator(kv, layout, cells, () => session.id, log, 'cp-split-test', {
          cleanupGraceMs: 500,
          barrierMs: 5000,
          // Between the market's freeze in Consul and the cells' freeze, the requests a router sent
          // before it saw the freeze reach the source: a burst of them, so that their events are
          // still in flight (outbox, orders topic, then delivery events) when the cells freeze.
          freezePlanes: async () => [
            {
              name: 'burst',
              check: async () => {
                await sendBurst();
                return { held: true };
              },
            },
          ],
        });
        const sendBurst = async () => {
          const answers = await Promise.all(
            Array.from({ length: 15 }, (_, i) => postOrder(a.order, MARKET, `burst-${i}`, orderBody({ customerId: `burst-${i}` }))),
          );
          for (const res of answers) {
            assert.equal(res.status, 201, 'the source takes writes until the cells freeze');
            acked.add(((await res.json()) as { id: string }).id);
            burst++;
          }
        };
        try {
          // The market's orders, routed as a router would: by its Consul record; retried while frozen.
          const refused: string[] = [];
          let seq = 0;
          const place = async () => {
            const key = `k-${seq++}`;
            for (let attempt = 0; attempt < 100; attempt++) {
              const rec = await kv.getJson(MarketRecordSchema, layout.marketKey(MARKET));
              const res = await postOrder(services[rec!.value.cell]!.order, MARKET, key, orderBody({ customerId: key }));
              if (res.status === 201 || res.status === 200) {
                acked.add(((await res.json()) as { id: string }).id);
                return;
              }
              const text = await res.text();
              if (res.status !== 409 || !text.includes('market_frozen')) {
                refused.push(`${res.status} ${text}`);
                return;
              }
              await new Promise((r) => setTimeout(r, 50));
            }
            refused.push(`${key}: still frozen after 100 tries`);
          };
          for (let i = 0; i < 20; i++) await place();
          await postOrder(a.order, 'stay', 'stay-1');
          // Some deliver before the move, some are assigned or picked up when it starts.
          await new Promise((r) => setTimeout(r, 2500));
          for (let i = 0; i < 10; i++) await place();

          let flowing = true;
          const load = (async () => {
            while (flowing) {
              await place();
              await new Promise((r) => setTimeout(r, 80));
            }
          })();
          let rec: MigrationRecord | undefined;
          let planned: MigrationPlan | undefined;
          let atFlip: { source: DeliverySide[]; target: DeliverySide[] } | undefined;
          try {
            planned = await migrator.plan(MARKET, 'cell-b');
            lap('move');
            await migrator.start(MARKET, 'cell-b', 'tester');
            const flipped = await migrator.moved(MARKET);
            if (flipped?.state === 'cleanup-wait') {
              const ids = [...acked];
              atFlip = { source: await readDeliveries(a.delivery, ids), target: await readDeliveries(b.delivery, ids) };
            }
            rec = await migrator.wait(MARKET);
            lap('moved');
            for (let i = 0; i < 5; i++) await place(); // on the target now
          } finally {
            flowing = false;
            await load;
          }
          assert.equal(rec?.state, 'done', JSON.stringify(rec?.history));
          assert.deepEqual(refused, [], 'no order refused');
          assert.ok(acked.size >= 35, `only ${acked.size} orders placed`);
          assert.equal(burst, 15, 'the burst at the freeze was taken by the source');
          // At the flip: the target holds the frozen source's deliveries and sagas as they were, some under way.
          assert.ok(atFlip, 'read both delivery services at the flip');
          const key = (ds: DeliverySide[]) => ds.map((d) => JSON.stringify([d.orderId, d.status, d.courier, d.saga])).sort();
          // (Orders placed on the target after the flip have no delivery on the source: left out.)
          const moved = new Set(atFlip.source.map((d) => d.orderId));
          assert.deepEqual(
            key(atFlip.target.filter((d) => moved.has(d.orderId))),
            key(atFlip.source),
            "the target's deliveries and sagas are the source's at the freeze",
          );
          assert.equal(moved.size, rec.summary?.orders, 'a delivery for every order moved: the drain let none in flight behind');
          assert.ok(moved.size >= 30, `only ${moved.size} orders moved`);
          const underWay = atFlip.source.filter((d) => d.saga?.active === true);
          assert.ok(underWay.length > 0, 'some deliveries were under way at the freeze');
          assert.ok(
            underWay.some((d) => d.courier !== null),
            `some of them already assigned (${underWay.map((d) => d.status).join(',')})`,
          );
          assert.equal(planned?.split, true, 'planned as a move between split cells');
          assert.ok(rec.delivery?.summary, 'the delivery service was verified');
          assert.equal(rec.delivery.summary.orders, rec.summary?.orders, 'a delivery-side order fact for every order moved');

          // Every acknowledged order on the target once, none elsewhere; its delivery moved with it.
          const onTarget = await listOrders(b.order, MARKET);
          assert.equal(new Set(onTarget).size, onTarget.length, 'no order twice on the target');
          assert.deepEqual([...onTarget].sort(), [...acked].sort(), 'exactly the acknowledged orders on the target');
          const src = await summaries(a);
          assert.deepEqual([src.order.orders, src.delivery.orders, src.delivery.deliveries], [0, 0, 0], 'nothing left on the source');
          assert.equal((await summary(a.order, 'stay')).orders, 1, 'the other market stays');

          // Sagas under way at the freeze go on on the target with their courier, and every order is delivered.
          const done = await eventually(
            async () => {
              await new Promise((r) => setTimeout(r, 400));
              const ds = await readDeliveries(b.delivery, [...acked]);
              if (ds.length !== acked.size || ds.some((d) => d.status !== 'DELIVERED')) return undefined;
              const orders = await Promise.all(
                [...acked].map(async (id) => (await (await b.order(`/v1/orders/${id}`)).json()) as { status: string }),
              );
              return orders.every((o) => o.status === 'DELIVERED') ? ds : undefined;
            },
            45_000,
            'every moved order and its delivery DELIVERED on the target',
          );
          lap('delivered');
          // A saga that had assigned its courier went on from there: the same courier, the saga done once.
          for (const d of underWay.filter((x) => x.courier !== null)) {
            const now = done.find((x) => x.orderId === d.orderId);
            assert.deepEqual([now?.courier, now?.saga], [d.courier, { state: 'DONE', active: false }], d.orderId);
          }
          const tgt = await summaries(b);
          assert.deepEqual([tgt.order.orders, tgt.delivery.orders, tgt.delivery.deliveries], [acked.size, acked.size, acked.size]);
          assert.equal(tgt.delivery.pending.sagas, 0, 'every saga finished once');
          process.stderr.write(
            `# split migration: ${acked.size} orders (${burst} in a burst at the freeze), ${underWay.length} under way at the freeze, ` +
              `ms since start ${JSON.stringify(at)}, freeze ${rec.freezeMs} ms ${JSON.stringify(rec.phases)}, ${rec.history.find((h) => h.state === 'verifying')?.note}, rows ${JSON.stringify(rec.rows)} + delivery ${JSON.stringify(rec.delivery.rows)}\n`,
          );
        } finally {
          await migrator.close();
          await cells.close();
          await session.close();
        }
      });
    } finally {
      await Promise.all(brokers.map((b) => b.stop()));
      tmp.cleanup();
    }
  });
});

async function summary(send: Send, market: string): Promise<MarketSummary> {
  const res = await send(`/admin/markets/${market}/summary`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as MarketSummary;
}

async function summaries(cell: { order: Send; delivery: Send }): Promise<{ order: MarketSummary; delivery: MarketSummary }> {
  return { order: await summary(cell.order, MARKET), delivery: await summary(cell.delivery, MARKET) };
}

/** What a delivery service holds for these orders (its reconciliation read, 500 at a time). */
async function readDeliveries(send: Send, ids: string[]): Promise<DeliverySide[]> {
  const out: DeliverySide[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const res = await send('/admin/reconcile/deliveries', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ orderIds: ids.slice(i, i + 500) }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    out.push(...((await res.json()) as { deliveries: DeliverySide[] }).deliveries);
  }
  return out;
}

/** Every order id of a market in an order service, page by page. */
async function listOrders(send: Send, market: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const res = await send(`/v1/orders?market=${market}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200, await res.clone().text());
    const page = (await res.json()) as { orders: { id: string }[]; nextCursor: string | null };
    ids.push(...page.orders.map((o) => o.id));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}
