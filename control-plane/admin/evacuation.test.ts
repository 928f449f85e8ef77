/**
 * Evacuation progress in Consul, against a real Consul and fake cells (unit level: the real
 * control plane killed mid-evacuation is in topology/operators.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { KvLayout, MarketRecordSchema } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import { FakeCells } from '../migration/fake-cells.test-helper.js';
import { Migrator } from '../migration/migrator.js';
import { EvacuationSchema, Evacuator } from './evacuation.js';
import { KvStore } from '../../shared/consul/kv-store.js';
import { openSession } from './session.js';

const log = createLogger('test', {});
log.level = 'silent';

describe('evacuation progress in Consul (real Consul, fake cells)', () => {
  let consul: ConsulAgent;
  let kv: KvStore;
  const layout = new KvLayout('evac/');

  before(async () => {
    consul = await startConsul();
    kv = new KvStore(consul.url);
  });
  after(async () => {
    await consul.proc.stop();
  });

  it('persists progress, and a restarted control plane shows it and resumes the evacuation where it stopped', async () => {
    const markets = ['m1', 'm2', 'm3', 'm4'];
    await seedKv(
      consul.url,
      {
        cells: { 'cell-0': { canary: true, capacity: 2 }, 'cell-1': { state: 'draining' }, 'cell-2': {} },
        markets: Object.fromEntries(markets.map((m) => [m, { cell: 'cell-1' }])),
      },
      layout.prefix,
    );
    const cells = new FakeCells(['cell-0', 'cell-1', 'cell-2']);
    for (const m of markets) cells.write('cell-1', m, [`${m}-o1`, `${m}-o2`]);
    // The first control plane hangs in the snapshot copy of its third market, then "dies".
    let copies = 0;
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    let hang = true;
    let stuck!: () => void;
    const isStuck = new Promise<void>((r) => (stuck = r));
    cells.hook = async (op) => {
      if (op === 'copy' && hang && ++copies === 3) {
        stuck();
        await hung;
      }
    };
    const sessionA = await openSession(kv, 'cp-a', log);
    const migA = new Migrator(kv, layout, cells, () => sessionA.id, log, 'cp-a', { cleanupGraceMs: 10, settleMs: 1 });
    const evacA = new Evacuator(kv, layout, migA, log, () => sessionA.id, 'cp-a');
    await evacA.start('cell-1', await evacA.plan('cell-1'), 1, 'tester');
    const stored = async () => (await kv.getJson(EvacuationSchema, evacA.key('cell-1')))!;
    await isStuck;
    for (let i = 0; i < 200 && (await stored()).value.running.length < 1; i++) await new Promise((r) => setTimeout(r, 25));
    const mid = await stored();
    assert.deepEqual(mid.value.moved, ['m1', 'm2']);
    assert.deepEqual([mid.value.state, mid.value.running], ['running', ['m3']]);
    assert.equal(mid.item.session, sessionA.id, 'the record is held by the running control plane');

    // Crash: the session goes (Consul releases its locks); a new control plane starts.
    hang = false;
    await sessionA.close();
    const sessionB = await openSession(kv, 'cp-b', log);
    try {
      const migB = new Migrator(kv, layout, cells, () => sessionB.id, log, 'cp-b', { cleanupGraceMs: 10, settleMs: 1 });
      const evacB = new Evacuator(kv, layout, migB, log, () => sessionB.id, 'cp-b');
      const before = await evacB.get('cell-1');
      assert.deepEqual([before?.state, before?.moved], ['running', ['m1', 'm2']], 'the status survives the restart');
      const recovered = await migB.recover();
      assert.deepEqual(
        recovered.map((r) => `${r.market}:${r.state}`),
        ['m3:rolling-back'],
      );
      const resumed = await evacB.recover();
      assert.deepEqual(
        resumed.map((e) => e.cell),
        ['cell-1'],
      );
      await evacB.idle();
      await migB.idle();
      const end = await stored();
      assert.equal(end.value.state, 'done', JSON.stringify(end.value));
      assert.deepEqual([...end.value.moved].sort(), markets);
      assert.deepEqual(end.value.owners, ['cp-a', 'cp-b']);
      assert.ok(end.value.resumedAt);
      assert.equal(end.item.session, undefined, 'released when finished');
      for (const m of markets) {
        const rec = await kv.getJson(MarketRecordSchema, layout.marketKey(m));
        assert.notEqual(rec?.value.cell, 'cell-1', `${m} left cell-1`);
        assert.deepEqual(cells.orders(rec!.value.cell, m), [`${m}-o1`, `${m}-o2`], `${m}: no order lost or duplicated`);
      }
      // Nothing is resumed twice.
      assert.deepEqual(await evacB.recover(), []);
    } finally {
      release();
      await sessionB.close();
    }
  });
});
