/**
 * Rollout waves against a real Consul, with the cell processes and their /metrics stood in by
 * a local HTTP server (unit level: real cells and the supervisor are exercised by
 * topology/operators.test.ts). Covers the idle-bake rule: a wave whose bake saw too little
 * traffic fails and rolls back unless the operator passed `--allow-idle`. Delivery rollouts
 * (stand-in delivery instances): an abort mid-bake, a breach in a wave of two cells, and a
 * control-plane restart, each rolled back with the cell records' delivery version.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { CellRecordSchema, KvLayout, RolloutRecordSchema, type RolloutRecord } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import { KvStore } from '../../shared/consul/kv-store.js';
import { openSession, type ControlPlaneSession } from '../admin/session.js';
import { RolloutManager } from './manager.js';
import { deliveryChild, twoCellRecord } from './record.test-helper.js';
import type { CellProcesses, ChildStatus, DeliveryInstances } from './supervisor-client.js';

const log = createLogger('test', {});
/** cell-0 as seeded here (the canary on v1, blue), as Consul holds it. */
const CANARY_V1 = { id: 'cell-0', state: 'active', canary: true, global: false, capacity: 100, version: 'v1', activeColor: 'blue' };
log.level = 'silent';

describe('rollout waves (real Consul, stand-in cell metrics)', () => {
  let consul: ConsulAgent;
  let kv: KvStore;
  let session: ControlPlaneSession;
  let server: Server;
  let base = '';
  let n = 0;
  let layout: KvLayout;
  /** Requests served so far per `<cell>/<color>` instance, as its /metrics reports them. */
  const served = new Map<string, number>();
  /** Of those, answered 500, per instance. */
  const failed = new Map<string, number>();
  const calls: string[] = [];
  /** Green instances that fail their Consul checks once started (registered, serving, not passing). */
  let greenFailsChecks = false;

  const procs: CellProcesses = {
    async startCell(cell, color, version) {
      calls.push(`start ${cell} ${color} ${version}`);
      return { name: `${cell}-${color}`, kind: 'cell', state: 'running', pid: 1, restarts: 0, keepDown: false };
    },
    async stopCell(cell, color) {
      calls.push(`stop ${cell} ${color}`);
    },
    async children() {
      return [];
    },
  };

  before(async () => {
    consul = await startConsul();
    kv = new KvStore(consul.url);
    session = await openSession(kv, 'cp-rollout-test', log);
    server = createServer((req, res) => {
      const key = (req.url ?? '').replace(/^\//, '').replace(/\/metrics$/, '');
      res.setHeader('content-type', 'text/plain');
      res.end(
        [
          `cellsim_http_requests_total{route="POST /v1/orders",status="201"} ${(served.get(key) ?? 0) - (failed.get(key) ?? 0)}`,
          `cellsim_http_requests_total{route="POST /v1/orders",status="500"} ${failed.get(key) ?? 0}`,
          `cellsim_http_request_duration_seconds_bucket{route="POST /v1/orders",le="0.05"} ${served.get(key) ?? 0}`,
          `cellsim_http_request_duration_seconds_bucket{route="POST /v1/orders",le="+Inf"} ${served.get(key) ?? 0}`,
          '',
        ].join('\n'),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await session.close();
    await new Promise((r) => server.close(r));
    await consul.proc.stop();
  });
  beforeEach(async () => {
    layout = new KvLayout(`r${++n}/`);
    served.clear();
    failed.clear();
    calls.length = 0;
    greenFailsChecks = false;
    await seedKv(consul.url, { cells: { 'cell-0': { canary: true }, 'cell-1': {} } }, layout.prefix);
  });

  const manager = () =>
    new RolloutManager(
      kv,
      layout,
      () => procs,
      {
        // Passing instances: a green failing its checks is left out of every lookup but the start's wait
        // for it (waitPassing, which names the version), as if it passed once and then missed its checks.
        instances: async (cell: string, color?: string, version?: string) =>
          greenFailsChecks && color === 'green' && version === undefined ? [] : [`${base}/${cell}/${color ?? 'blue'}`],
        registeredInstances: async (cell: string, color?: string) => [`${base}/${cell}/${color ?? 'blue'}`],
        metrics: async (url: string) => (await fetch(`${url}/metrics`)).text(),
      },
      () => session.id,
      log,
      { bakeMs: 400, checkIntervalMs: 100 },
    );
  const cell = async (id: string) => (await kv.getJson(CellRecordSchema, layout.cellKey(id)))?.value;
  const rollout = async (req: { allowIdle?: boolean; steps?: number[] }, traffic = false, failing?: string): Promise<RolloutRecord> => {
    const m = manager();
    const timer = traffic
      ? setInterval(() => {
          for (const c of ['cell-0', 'cell-1']) served.set(`${c}/green`, (served.get(`${c}/green`) ?? 0) + 10);
          // A bad green: half its requests fail.
          if (failing) failed.set(`${failing}/green`, (failed.get(`${failing}/green`) ?? 0) + 5);
        }, 50)
      : undefined;
    try {
      await m.start({ version: 'v2', by: 'tester', ...req });
      return (await m.wait())!;
    } finally {
      clearInterval(timer);
    }
  };

  it('fails a canary whose bake saw no traffic and rolls it back; later waves are skipped', async () => {
    const rec = await rollout({});
    assert.equal(rec.state, 'rolled-back', rec.report);
    assert.deepEqual(
      rec.waves.map((w) => w.state),
      ['breached', 'skipped'],
    );
    assert.equal(rec.waves[0]!.verdict?.pass, false);
    assert.match(rec.waves[0]!.verdict?.reason ?? '', /no traffic to judge: 0 requests \(< 20\).*--allow-idle/);
    assert.match(rec.report ?? '', /^idle bake in wave 0 \(cell-0\)/);
    assert.deepEqual(await cell('cell-0'), CANARY_V1);
    assert.equal((await cell('cell-1'))?.version, 'v1');
    assert.deepEqual(calls, ['start cell-0 green v2', 'stop cell-0 green'], 'cell-1 was never touched');
  });

  it('accepts idle waves with allowIdle, and says so in the record', async () => {
    const rec = await rollout({ allowIdle: true });
    assert.equal(rec.state, 'succeeded', rec.report);
    assert.equal(rec.allowIdle, true);
    assert.deepEqual(
      rec.waves.map((w) => w.state),
      ['passed', 'passed'],
    );
    assert.match(rec.waves[0]!.verdict?.reason ?? '', /^inconclusive: 0 requests/);
    assert.equal((await cell('cell-1'))?.version, 'v2');
  });

  it('passes waves that saw traffic without allowIdle', async () => {
    const rec = await rollout({}, true);
    assert.equal(rec.state, 'succeeded', rec.report);
    assert.equal(rec.allowIdle, undefined);
    assert.ok(
      rec.waves.every((w) => w.state === 'passed' && (w.verdict?.requests ?? 0) >= 20),
      JSON.stringify(rec.waves),
    );
    assert.deepEqual([(await cell('cell-0'))?.version, (await cell('cell-1'))?.version], ['v2', 'v2']);
  });

  it('after a restart, rolls back a rollout cut short mid-bake and says why in the record', async () => {
    // The dead control plane had switched cell-0 to v2 (green) and was baking wave 0.
    await kv.put(layout.cellKey('cell-0'), JSON.stringify({ ...CANARY_V1, version: 'v2', activeColor: 'green' }));
    const rec = twoCellRecord({ id: 'ro-dead-v2', version: 'v2' }, ['baking', 'pending']);
    await kv.putJson(RolloutRecordSchema, layout.rolloutKey(rec.id), rec);
    const [out] = await manager().recover();
    assert.equal(out?.state, 'rolled-back');
    const stored = (await kv.getJson(RolloutRecordSchema, layout.rolloutKey(rec.id)))!.value;
    assert.equal(stored.state, 'rolled-back');
    assert.deepEqual(
      stored.waves.map((w) => w.state),
      ['rolled-back', 'skipped'],
    );
    assert.ok(stored.rolledBackAt);
    assert.match(
      stored.report ?? '',
      /^control plane restarted during wave 0 \(cell-0, baking\); rolled back, not resumed: a bake cut short proves nothing .*\(cell-0 back on v1\); run 'cellctl rollout v2' again$/,
    );
    assert.deepEqual([(await cell('cell-0'))?.version, (await cell('cell-0'))?.activeColor], ['v1', 'blue']);
    assert.ok(calls.includes('stop cell-0 green'));
    assert.deepEqual(await manager().recover(), [], 'nothing is recovered twice');
  });
  /** Collects the shift percents cell-0's record shows while `run` goes on (every 20 ms). */
  const watchShift = async <T>(run: Promise<T>): Promise<{ out: T; seen: number[] }> => {
    const seen: number[] = [];
    let done = false;
    const watching = (async () => {
      while (!done) {
        const p = (await cell('cell-0'))?.shift?.percent;
        if (p !== undefined && seen.at(-1) !== p) seen.push(p);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      return { out: await run, seen };
    } finally {
      done = true;
      await watching;
    }
  };

  it('steps each wave through 1, 10 and 50 % of its traffic before the full switch, each step judged', async () => {
    const { out: rec, seen } = await watchShift(rollout({ steps: [1, 10, 50] }, true));
    assert.equal(rec.state, 'succeeded', rec.report);
    assert.deepEqual(rec.steps, [1, 10, 50]);
    for (const w of rec.waves) {
      assert.equal(w.state, 'passed');
      assert.deepEqual(
        w.steps?.map((s) => [s.percent, s.verdict?.pass]),
        [
          [1, true],
          [10, true],
          [50, true],
        ],
      );
    }
    assert.deepEqual(seen, [1, 10, 50], "cell-0's record carried each step in turn");
    for (const id of ['cell-0', 'cell-1']) {
      const c = await cell(id);
      assert.deepEqual([c?.activeColor, c?.version, c?.shift], ['green', 'v2', undefined], `${id} whole on green after its last step`);
    }
  });

  it("does not judge a bake's warm-up: a green that fails only its first requests passes with warmupMs, breaches without", async () => {
    // cell-0's green fails half its requests for 150 ms from its switch only (a cold start): the
    // switch is seen in cell-0's record, polled every 10 ms.
    const cold = async (warmupMs: number): Promise<RolloutRecord> => {
      const m = manager();
      let switchedAt: number | undefined;
      let done = false;
      const watching = (async () => {
        while (!done) {
          if (switchedAt === undefined && (await cell('cell-0'))?.activeColor === 'green') switchedAt = Date.now();
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const timer = setInterval(() => {
        for (const c of ['cell-0', 'cell-1']) served.set(`${c}/green`, (served.get(`${c}/green`) ?? 0) + 10);
        if (switchedAt !== undefined && Date.now() < switchedAt + 150) failed.set('cell-0/green', (failed.get('cell-0/green') ?? 0) + 5);
      }, 25);
      try {
        await m.start({ version: 'v2', by: 'tester', warmupMs });
        return (await m.wait())!;
      } finally {
        clearInterval(timer);
        done = true;
        await watching;
      }
    };
    const warm = await cold(200); // half the 400 ms bake: the verdict's window opens after the failures
    assert.equal(warm.state, 'succeeded', warm.report);
    assert.equal(warm.warmupMs, 200);
    assert.equal(warm.waves[0]!.verdict?.errorRate, 0, 'the warm-up failures are not in the window');
    assert.ok((warm.waves[0]!.verdict?.requests ?? 0) >= 20, JSON.stringify(warm.waves[0]));
    layout = new KvLayout(`r${++n}/`);
    served.clear();
    failed.clear();
    await seedKv(consul.url, { cells: { 'cell-0': { canary: true }, 'cell-1': {} } }, layout.prefix);
    const judged = await cold(0);
    assert.equal(judged.state, 'rolled-back', judged.report);
    assert.match(judged.report ?? '', /^SLO breach in wave 0 \(cell-0\): error rate/);
  });

  it('a breach at the first step rolls the wave back: the shift removed, the old color whole again, later steps and waves never run', async () => {
    const { out: rec, seen } = await watchShift(rollout({ steps: [1, 10, 50] }, true, 'cell-0'));
    assert.equal(rec.state, 'rolled-back', rec.report);
    assert.match(rec.report ?? '', /^SLO breach in wave 0 \(cell-0\) at 1% of its traffic: /);
    assert.deepEqual(
      rec.waves.map((w) => w.state),
      ['breached', 'skipped'],
    );
    assert.deepEqual(
      rec.waves[0]!.steps?.map((s) => [s.percent, s.verdict?.pass]),
      [[1, false]],
    );
    assert.deepEqual(seen, [1]);
    const c = await cell('cell-0');
    assert.deepEqual([c?.activeColor, c?.version, c?.shift], ['blue', 'v1', undefined]);
    assert.deepEqual(calls, ['start cell-0 green v2', 'stop cell-0 green'], 'cell-1 was never touched');
  });
  it('judges a green that serves but fails its Consul checks (a check missed under load) by its traffic: a bad one is caught at the first step', async () => {
    greenFailsChecks = true;
    const rec = await rollout({ steps: [1, 10, 50] }, true, 'cell-0');
    assert.equal(rec.state, 'rolled-back', rec.report);
    assert.match(rec.report ?? '', /^SLO breach in wave 0 \(cell-0\) at 1% of its traffic: error rate/);
    assert.ok((rec.waves[0]!.steps?.[0]?.verdict?.requests ?? 0) >= 20, JSON.stringify(rec.waves[0]!.steps));
  });

  it('after a restart, takes back a weighted step the dead control plane left (the version still the old one)', async () => {
    await kv.put(layout.cellKey('cell-0'), JSON.stringify({ ...CANARY_V1, shift: { color: 'green', percent: 10 } }));
    const now = new Date().toISOString();
    const rec: RolloutRecord = {
      id: 'ro-dead-step-v2',
      version: 'v2',
      state: 'running',
      previous: { 'cell-0': { version: 'v1', color: 'blue' }, 'cell-1': { version: 'v1', color: 'blue' } },
      waves: [
        { cells: ['cell-0'], state: 'baking', steps: [{ percent: 1 }, { percent: 10 }] },
        { cells: ['cell-1'], state: 'pending' },
      ],
      bakeMs: 30_000,
      steps: [1, 10, 50],
      by: 'tester',
      startedAt: now,
      updatedAt: now,
    };
    await kv.putJson(RolloutRecordSchema, layout.rolloutKey(rec.id), rec);
    const [out] = await manager().recover();
    assert.equal(out?.state, 'rolled-back');
    const c = await cell('cell-0');
    assert.deepEqual([c?.activeColor, c?.version, c?.shift], ['blue', 'v1', undefined]);
  });

  it("after a restart, replaces a cut delivery rollout's instances back to the old version (as many as before), leaving the cell records alone", async () => {
    // cell-0 cut mid-replacement: instance 1 and the spare 3 on v2, instance 2 still on v1.
    const kids = new Map<string, ChildStatus>();
    let port = 21_000;
    const kid = (n: number, version: string) => deliveryChild('cell-0', n, version, port++);
    for (const [n, v] of [
      [1, 'v2'],
      [2, 'v1'],
      [3, 'v2'],
    ] as const)
      kids.set(`cell-0.delivery-${n}`, kid(n, v));
    const steps: string[] = [];
    const delivery: DeliveryInstances = {
      children: async () => [...kids.values()],
      startDelivery: async (_cell, n, version) => {
        steps.push(`start ${n} ${version}`);
        const k = kid(n, version);
        kids.set(k.name, k);
        return k;
      },
      stopDelivery: async (_cell, n) => void (steps.push(`stop ${n}`), kids.delete(`cell-0.delivery-${n}`)),
    };
    const reads = {
      deliveryInstances: async (_cell: string, version?: string) =>
        [...kids.values()].filter((k) => version === undefined || k.version === version).map((k) => `http://127.0.0.1:${k.port}`),
      metrics: async () => '',
    };
    const rec = twoCellRecord(
      { id: 'ro-dead-delivery-v2', version: 'v2', role: 'delivery', deliveryInstances: { 'cell-0': 2, 'cell-1': 2 } },
      ['staging', 'pending'],
    );
    await kv.putJson(RolloutRecordSchema, layout.rolloutKey(rec.id), rec);
    const m = new RolloutManager(
      kv,
      layout,
      () => procs,
      { instances: async () => [], registeredInstances: async () => [], metrics: async () => '' },
      () => session.id,
      log,
      { stageTimeoutMs: 500 },
      { procs: () => delivery, reads },
    );
    const before = await cell('cell-0');
    const [out] = await m.recover();
    assert.equal(out?.state, 'rolled-back');
    assert.match(out?.report ?? '', /control plane restarted during wave 0 \(cell-0, staging\); .*delivery of cell-0 back on v1/);
    assert.deepEqual(
      out?.waves.map((w) => w.state),
      ['rolled-back', 'skipped'],
    );
    // Three ran (the spare among them): no new spare, instance 1 replaced, the spare stopped.
    assert.deepEqual(steps, ['stop 1', 'start 1 v1', 'stop 3']);
    assert.deepEqual([...kids.values()].map((k) => `${k.name} ${k.version}`).sort(), ['cell-0.delivery-1 v1', 'cell-0.delivery-2 v1']);
    assert.deepEqual(calls, [], 'no cell color started or stopped');
    assert.deepEqual(await cell('cell-0'), before, "the cell's record untouched");
  });
  /**
   * Split cells' delivery instances held in memory (two each on v1, as a supervisor reports them),
   * their passing instances and /metrics: order events handled by every instance, and a lag of 3,
   * or 400 in `stuckCell` once an instance of v2 runs there (its consumer stalls). `beforeStart`
   * runs before each start of an instance.
   */
  const deliveryWorld = (cells: string[], stuckCell?: string, beforeStart?: (cell: string, version: string) => Promise<void>) => {
    const kids = new Map<string, ChildStatus>();
    let port = 22_000;
    const kid = (cell: string, n: number, version: string) => deliveryChild(cell, n, version, port++);
    for (const c of cells) for (const n of [1, 2]) kids.set(`${c}.delivery-${n}`, kid(c, n, 'v1'));
    const steps: string[] = [];
    /** The fewest delivery instances each cell ran at any moment. */
    const least = new Map<string, number>();
    const delivery: DeliveryInstances = {
      children: async () => [...kids.values()],
      async startDelivery(c, n, version) {
        await beforeStart?.(c, version);
        steps.push(`${c} start ${n} ${version}`);
        const k = kid(c, n, version);
        kids.set(k.name, k);
        return k;
      },
      async stopDelivery(c, n) {
        steps.push(`${c} stop ${n}`);
        kids.delete(`${c}.delivery-${n}`);
        least.set(c, Math.min(least.get(c) ?? Infinity, [...kids.values()].filter((k) => k.cell === c).length));
      },
    };
    const reads = {
      deliveryInstances: async (c: string, version?: string) =>
        [...kids.values()]
          .filter((k) => k.cell === c && (version === undefined || k.version === version))
          .map((k) => `http://127.0.0.1:${k.port}`),
      metrics: async (url: string) => {
        const c = [...kids.values()].find((k) => String(k.port) === new URL(url).port)?.cell;
        const stuck = c === stuckCell && [...kids.values()].some((k) => k.cell === c && k.version === 'v2');
        return `cellsim_consumer_lag{partition="0"} ${stuck ? 400 : 3}\ncellsim_consumer_events_total{type="order.created",outcome="applied"} 25\n`;
      },
    };
    const versions = (c: string) =>
      [...kids.values()]
        .filter((k) => k.cell === c)
        .map((k) => `${k.name} ${k.version}`)
        .sort();
    const manager = (bakeMs = 400) =>
      new RolloutManager(
        kv,
        layout,
        () => procs,
        { instances: async () => [], registeredInstances: async () => [], metrics: async () => '' },
        () => session.id,
        log,
        { bakeMs, checkIntervalMs: 50 },
        { procs: () => delivery, reads },
      );
    return { steps, least, versions, manager };
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('aborts a running delivery rollout mid-bake: the canary replaced back at once, later waves skipped', async () => {
    const w = deliveryWorld(['cell-0', 'cell-1']);
    const m = w.manager(10_000);
    await m.start({ version: 'v2', role: 'delivery', by: 'tester' });
    const until = Date.now() + 5000;
    while (m.running()?.waves[0]?.state !== 'baking') {
      assert.ok(Date.now() < until, 'wave 0 baking within 5 s');
      await sleep(10);
    }
    assert.deepEqual(w.versions('cell-0'), ['cell-0.delivery-1 v2', 'cell-0.delivery-2 v2']);
    const t0 = Date.now();
    assert.equal((await m.abort()).state, 'running', 'the abort is asked, not done, when it answers');
    const rec = (await m.wait())!;
    const tookMs = Date.now() - t0;
    assert.equal(rec.state, 'aborted', rec.report);
    assert.match(rec.report ?? '', /^aborted by operator; delivery of cell-0 back on v1 in \d+ ms$/);
    assert.deepEqual(
      rec.waves.map((x) => x.state),
      ['rolled-back', 'skipped'],
    );
    assert.ok(tookMs < 3000, `the abort took ${tookMs} ms: the 10 s bake was not cut`);
    assert.deepEqual((await kv.getJson(RolloutRecordSchema, layout.rolloutKey(rec.id)))?.value.state, 'aborted');
    assert.deepEqual(w.versions('cell-0'), ['cell-0.delivery-1 v1', 'cell-0.delivery-2 v1']);
    assert.equal(w.least.get('cell-0'), 2, 'cell-0 never ran fewer than 2 instances');
    assert.deepEqual(w.versions('cell-1'), ['cell-1.delivery-1 v1', 'cell-1.delivery-2 v1']);
    assert.ok(!w.steps.some((x) => x.startsWith('cell-1')), 'cell-1 was touched');
    assert.deepEqual(calls, [], 'no cell color started or stopped');
    assert.deepEqual([(await cell('cell-0'))?.version, (await cell('cell-0'))?.deliveryVersion], ['v1', 'v1']);
  });

  it('a breach of one cell in a wave of two rolls back every touched cell, the earlier wave and its record too', async () => {
    await seedKv(consul.url, { cells: { 'cell-2': {} } }, layout.prefix);
    /** cell-0's delivery version in its record at each start of a v2 instance of the second wave. */
    const seen = new Set<string | undefined>();
    const w = deliveryWorld(['cell-0', 'cell-1', 'cell-2'], 'cell-2', async (c, version) => {
      if (c !== 'cell-0' && version === 'v2') seen.add((await cell('cell-0'))?.deliveryVersion);
    });
    const m = w.manager();
    await m.start({ version: 'v2', role: 'delivery', by: 'tester' });
    const rec = (await m.wait())!;
    assert.equal(rec.state, 'rolled-back', rec.report);
    assert.deepEqual(
      rec.waves.map((x) => [x.cells, x.state]),
      [
        [['cell-0'], 'passed'],
        [['cell-1', 'cell-2'], 'breached'],
      ],
    );
    assert.match(
      rec.report ?? '',
      /^delivery verdict breached in wave 1 \(cell-1, cell-2\): cell-2: consumer lag 400 records, above the bound of 100 and the 3 before the rollout; /,
    );
    assert.deepEqual(
      rec.waves[1]!.delivery?.map((v) => [v.cell, v.pass]),
      [['cell-2', false]],
      'the breached cell judged; cell-1, halted, has no verdict',
    );
    for (const c of ['cell-0', 'cell-1', 'cell-2']) {
      assert.match(rec.report ?? '', new RegExp(`delivery of .*${c}.* back on v1, v1, v1`));
      assert.deepEqual(w.versions(c), [`${c}.delivery-1 v1`, `${c}.delivery-2 v1`], `${c} back on v1`);
      assert.equal(w.least.get(c), 2, `${c} never ran fewer than 2 instances`);
      assert.deepEqual([(await cell(c))?.version, (await cell(c))?.deliveryVersion], ['v1', 'v1'], `${c}'s record`);
    }
    assert.deepEqual([...seen], ['v2'], "cell-0's record named v2 once its wave passed (v1 after the rollback, above)");
    assert.deepEqual(calls, [], 'no cell color started or stopped');
  });
});
