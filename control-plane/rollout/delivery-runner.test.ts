/**
 * A delivery rollout's steps and verdicts on stand-ins (unit level: the supervisor's delivery
 * children, Consul's passing instances and their /metrics held in memory; the real processes,
 * broker and Consul are exercised by topology/up-kafka.test.ts). Covers the rolling order (a
 * spare started before any old instance stops, never fewer instances than before), the lag,
 * health and idle verdicts, and the rollback to the old version with the old count.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvLayout, type CellRecord, type RolloutRecord } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import { DeliveryRolloutRun } from './delivery-runner.js';
import { rolloutOptions } from './options.js';
import { deliveryChild, twoCellRecord } from './record.test-helper.js';
import type { ChildStatus, DeliveryInstances } from './supervisor-client.js';

const log = createLogger('test', {});
log.level = 'silent';

/** Two split cells with two delivery instances each on v1, and what the rollout did to them. */
function world(o: { traffic: boolean; stuck?: string; flaky?: string }) {
  const kids = new Map<string, ChildStatus>();
  let port = 20_000;
  const kid = (cell: string, n: number, version: string) => deliveryChild(cell, n, version, port++);
  for (const cell of ['cell-0', 'cell-1']) for (const n of [1, 2]) kids.set(`${cell}.delivery-${n}`, kid(cell, n, 'v1'));
  const calls: string[] = [];
  /** The fewest delivery instances a cell had at any moment. */
  const least = new Map<string, number>();
  const count = (cell: string) => [...kids.values()].filter((k) => k.cell === cell).length;
  const procs: DeliveryInstances = {
    children: async () => [...kids.values()],
    async startDelivery(cell, n, version) {
      calls.push(`${cell} start ${n} ${version}`);
      const k = kid(cell, n, version);
      kids.set(k.name, k);
      return k;
    },
    async stopDelivery(cell, n) {
      calls.push(`${cell} stop ${n}`);
      kids.delete(`${cell}.delivery-${n}`);
      least.set(cell, Math.min(least.get(cell) ?? Infinity, count(cell)));
    },
  };
  const byPort = (url: string) => [...kids.values()].find((k) => String(k.port) === new URL(url).port);
  const reads = {
    async deliveryInstances(cell: string, version?: string) {
      return [...kids.values()]
        .filter((k) => k.cell === cell && (version === undefined || k.version === version) && k.version !== o.flaky)
        .map((k) => `http://127.0.0.1:${k.port}`);
    },
    async metrics(url: string) {
      const k = byPort(url);
      const stuck = [...kids.values()].some((x) => x.cell === k?.cell && x.version === o.stuck);
      return [
        `cellsim_consumer_lag{partition="0"} ${stuck ? 400 : 3}`,
        `cellsim_consumer_events_total{type="order.created",outcome="applied"} ${o.traffic && k?.version !== o.stuck ? 25 : 0}`,
        '',
      ].join('\n');
    },
  };
  return { kids, calls, least, procs, reads, cells: cellRecords() };
}

function record(version: string): RolloutRecord {
  return twoCellRecord({
    id: `ro-test-${version}`,
    version,
    role: 'delivery',
    maxLag: 100,
    deliveryInstances: { 'cell-0': 2, 'cell-1': 2 },
    bakeMs: 300,
  });
}

/** The cell records as the stand-in Consul holds them (both cells on v1, no delivery version of their own). */
const cellRecords = (): Map<string, CellRecord> =>
  new Map(
    ['cell-0', 'cell-1'].map((id): [string, CellRecord] => [
      `t/cells/${id}`,
      { id, state: 'active', canary: id === 'cell-0', global: false, capacity: 100, version: 'v1', activeColor: 'blue' },
    ]),
  );

async function roll(w: ReturnType<typeof world>, version: string, allowIdle = false): Promise<RolloutRecord> {
  const saved: RolloutRecord[] = [];
  const kv = {
    getJson: async (_s: unknown, k: string) => (w.cells.has(k) ? { value: w.cells.get(k), item: { modifyIndex: 1 } } : undefined),
    putJson: async (_s: unknown, k: string, v: RolloutRecord | CellRecord) => {
      if (w.cells.has(k)) w.cells.set(k, v as CellRecord);
      else saved.push(v as RolloutRecord);
      return true;
    },
  } as unknown as KvStore;
  const opts = rolloutOptions({ bakeMs: 300, checkIntervalMs: 50, allowIdle });
  const run = new DeliveryRolloutRun(
    { kv, layout: new KvLayout('t/'), procs: w.procs, reads: w.reads, log, opts, aborted: () => false, stageTimeoutMs: 500 },
    record(version),
  );
  const end = await run.run();
  assert.deepEqual(saved.at(-1), end, 'the last record written is the one returned');
  return end;
}

const versions = (w: ReturnType<typeof world>, cell: string) =>
  [...w.kids.values()]
    .filter((k) => k.cell === cell)
    .map((k) => `${k.name} ${k.version}`)
    .sort();

describe('delivery rollout (stand-in supervisor, Consul and metrics)', () => {
  it('replaces each cell one instance at a time, cell-0 first, a spare started before any old one stops', async () => {
    const w = world({ traffic: true });
    const end = await roll(w, 'v2');
    assert.equal(end.state, 'succeeded', end.report);
    assert.deepEqual(w.calls, [
      ...['start 3 v2', 'stop 1', 'start 1 v2', 'stop 2', 'start 2 v2', 'stop 3'].map((c) => `cell-0 ${c}`),
      ...['start 3 v2', 'stop 1', 'start 1 v2', 'stop 2', 'start 2 v2', 'stop 3'].map((c) => `cell-1 ${c}`),
    ]);
    for (const cell of ['cell-0', 'cell-1']) {
      assert.deepEqual(versions(w, cell), [`${cell}.delivery-1 v2`, `${cell}.delivery-2 v2`]);
      assert.equal(w.least.get(cell), 2, `${cell} never ran fewer than 2 instances`);
    }
    assert.deepEqual(
      end.waves.map((x) => [x.state, x.delivery?.map((v) => [v.cell, v.pass, v.instances, v.lag.end])]),
      [
        ['passed', [['cell-0', true, 2, 3]]],
        ['passed', [['cell-1', true, 2, 3]]],
      ],
    );
    // Each cell record names the new delivery version (what the next `cellctl up` starts); the cell's own version stays.
    assert.deepEqual(
      [...w.cells.values()].map((c) => [c.id, c.version, c.deliveryVersion]),
      [
        ['cell-0', 'v1', 'v2'],
        ['cell-1', 'v1', 'v2'],
      ],
    );
  });

  it('rolls a version whose consumer stalls back when the lag grows past its bound, later waves skipped', async () => {
    const w = world({ traffic: true, stuck: 'v2-stuck' });
    const end = await roll(w, 'v2-stuck');
    assert.equal(end.state, 'rolled-back', end.report);
    assert.match(
      end.report ?? '',
      /delivery verdict breached in wave 0 \(cell-0\): cell-0: consumer lag 400 records, above the bound of 100/,
    );
    assert.match(end.report ?? '', /delivery of cell-0 back on v1/);
    assert.deepEqual(
      end.waves.map((x) => x.state),
      ['breached', 'skipped'],
    );
    assert.equal(end.waves[0]!.delivery?.[0]?.pass, false);
    assert.deepEqual(versions(w, 'cell-0'), ['cell-0.delivery-1 v1', 'cell-0.delivery-2 v1']);
    assert.deepEqual(versions(w, 'cell-1'), ['cell-1.delivery-1 v1', 'cell-1.delivery-2 v1']);
    assert.ok(!w.calls.some((c) => c.startsWith('cell-1')), 'cell-1 was touched');
    assert.equal(w.least.get('cell-0'), 2);
    assert.deepEqual(
      [...w.cells.values()].map((c) => [c.id, c.deliveryVersion]),
      [
        ['cell-0', 'v1'],
        ['cell-1', undefined],
      ],
      'the breached cell names its old delivery version, the untouched one nothing',
    );
  });

  it('fails an idle bake closed (no order events handled by the new version) unless idle waves are allowed', async () => {
    const idle = world({ traffic: false });
    const end = await roll(idle, 'v2');
    assert.equal(end.state, 'rolled-back');
    assert.match(end.report ?? '', /idle bake in wave 0 \(cell-0\): cell-0: no traffic to judge/);
    assert.deepEqual(versions(idle, 'cell-0'), ['cell-0.delivery-1 v1', 'cell-0.delivery-2 v1']);
    const allowed = world({ traffic: false });
    const ok = await roll(allowed, 'v2', true);
    assert.equal(ok.state, 'succeeded', ok.report);
    assert.match(ok.waves[0]!.delivery?.[0]?.reason ?? '', /^inconclusive/);
  });

  it('fails when a new instance never passes in Consul, and rolls back', async () => {
    const w = world({ traffic: true, flaky: 'v2' });
    const end = await roll(w, 'v2');
    assert.equal(end.state, 'failed');
    assert.match(end.report ?? '', /cell-0\.delivery-3 \(v2\) not passing in Consul after 500 ms/);
    assert.deepEqual(versions(w, 'cell-0'), ['cell-0.delivery-1 v1', 'cell-0.delivery-2 v1']);
  });
});
