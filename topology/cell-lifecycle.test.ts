/**
 * The cell lifecycle on a real topology (`cellctl up --any-ports`: real Consul, cells, two routers,
 * the control plane, two Envoys) under order load through both data planes: `cellctl cells add`
 * starts a cell that both planes route to once a market is moved onto it; `cellctl cells retire`
 * refuses while it owns a market, and `--evacuate` empties and removes it with no failed request.
 * Then placement by load: the cells' measured load, `cellctl rebalance` (dry run, then for real)
 * moving markets off the busy cell, and `cellctl assign <market>` choosing a cell by load.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ManagedProcess } from '../infra/process.js';
import { cellctlJson, runCellctl, startUp } from '../infra/harness/up.js';
import { startLoad, type LoadResult } from './load.js';

interface Topo {
  consul: { url: string };
  controlPlane: { url: string };
  supervisor: { url: string };
  routers: { url: string }[];
  envoys: { url: string }[];
  cells: { id: string; instances: { name: string; state: string }[] }[];
}

describe('cell lifecycle on a real topology (cellctl up): add, route, retire', () => {
  let data: string;
  let up: ManagedProcess;
  let topo: Topo;
  const market = 'portland';
  const others = ['nyc', 'boise'];

  const cellctl = (args: string[]) => runCellctl(data, args);
  const json = <T>(args: string[]) => cellctlJson<T>(data, args);
  const owner = async (m: string) => (await json<{ market: string; cell: string }[]>(['markets'])).find((x) => x.market === m)?.cell;
  const cells = () => json<{ id: string; state: string; health: string }[]>(['cells']);
  const planes = () => [...topo.routers.map((r) => r.url), ...topo.envoys.map((e) => e.url)];
  const children = async () => {
    const token = readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim();
    const res = await fetch(`${topo.supervisor.url}/children`, { headers: { authorization: `Bearer ${token}` } });
    return (await res.json()) as { name: string; state: string }[];
  };
  const cellInstances = async (cell: string) => {
    // Consul's ACLs filter an anonymous health answer: read it as a router does.
    const consulToken = readFileSync(join(data, 'tokens', 'consul-router'), 'utf8').trim();
    const res = await fetch(`${topo.consul.url}/v1/health/service/cellsim-cell`, { headers: { 'x-consul-token': consulToken } });
    return ((await res.json()) as { Service: { Meta: { cell: string } } }[]).filter((e) => e.Service.Meta.cell === cell);
  };
  /** One order through each plane: the cell that answered. */
  const answeredBy = async (m: string, tag: string) => {
    const seen: (string | null)[] = [];
    for (const base of planes()) {
      const res = await fetch(`${base}/v1/orders`, {
        method: 'POST',
        headers: { 'x-market-id': m, 'idempotency-key': `${tag}-${base}`, 'content-type': 'application/json' },
        body: JSON.stringify({ customerId: 'c-1', items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
      });
      assert.equal(res.status, 201, `${base}: ${await res.text()}`);
      seen.push(res.headers.get('x-cell-id'));
    }
    return seen;
  };
  const noneFailed = (results: LoadResult[], what: string) => {
    const failed = results.filter((r) => r.status !== 201);
    assert.deepEqual(failed.slice(0, 5), [], `${what}: ${failed.length} of ${results.length} requests failed`);
    // every phase runs at least 2 s at 24-30 req/s
    assert.ok(results.length > 40, `${what}: ${results.length} requests`);
    const ids = results.map((r) => r.orderId);
    assert.equal(new Set(ids).size, ids.length, 'one order per idempotency key');
  };

  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'cellsim-lifecycle-'));
    // The source of a move is purged 3 s after its flip (not 30 s): retire waits for it.
    up = await startUp({ data, env: { CELLSIM_CLEANUP_GRACE_MS: '3000' } });
    topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
  });
  after(async () => {
    await up?.stop(30_000);
    if (data) rmSync(data, { recursive: true, force: true });
  });

  it('adds a cell while traffic flows: a dry run changes nothing, then the supervisor starts it and it is active once it passes its checks', async () => {
    const dry = await json<{ dryRun: boolean; plan: { record: { id: string; capacity: number }; supervised: boolean } }>([
      ...['cells', 'add', 'cell-5', '--capacity', '12', '--dry-run'],
    ]);
    assert.deepEqual([dry.plan.record.id, dry.plan.record.capacity, dry.plan.supervised], ['cell-5', 12, true]);
    assert.ok(!(await cells()).some((c) => c.id === 'cell-5'), 'the dry run wrote no record');
    const load = startLoad({ targets: planes(), markets: [market, ...others], rps: 30, maxMs: 90_000 });
    const t0 = Date.now();
    const added = await cellctl(['cells', 'add', 'cell-5', '--capacity', '12']);
    const addMs = Date.now() - t0;
    const results = await load.stop();
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /added cell-5 \(capacity 12, version v1\): passing its checks after \d+ ms, active/);
    const c5 = (await cells()).find((c) => c.id === 'cell-5');
    assert.deepEqual([c5?.state, c5?.health], ['active', 'healthy']);
    assert.ok((await children()).some((c) => c.name === 'cell-5.blue' && c.state === 'running'));
    assert.equal((await cellInstances('cell-5')).length, 1, 'registered in Consul');
    // its database is copied continuously outside its data directory (cells/db/backup.ts)
    const info = join(data, 'backups', 'cell-5', 'backup.json');
    for (let i = 0; i < 100 && !existsSync(info); i++) await new Promise((r) => setTimeout(r, 100));
    const copy = JSON.parse(readFileSync(info, 'utf8')) as { startedAt: string; intervalMs: number; bytes: number };
    assert.ok(copy.bytes > 0 && copy.intervalMs === 2000, JSON.stringify(copy));
    assert.ok(Date.now() - Date.parse(copy.startedAt) < 15_000, `recovery point ${copy.startedAt}`);
    noneFailed(results, 'load during the add');
    const again = await cellctl(['cells', 'add', 'cell-5']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /cell cell-5 exists \(conflict\)/);
    process.stdout.write(`# cells add: ${addMs} ms until cell-5 passed its checks and was active\n`);
  });

  it('routes a market moved onto the new cell through every router and Envoy, with no failed request', async () => {
    const load = startLoad({ targets: planes(), markets: [market, ...others], rps: 30, maxMs: 90_000 });
    await new Promise((r) => setTimeout(r, 1000));
    const moved = await cellctl(['assign', market, 'cell-5', '--json']);
    await new Promise((r) => setTimeout(r, 1000));
    const results = await load.stop();
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(await owner(market), 'cell-5');
    assert.deepEqual(await answeredBy(market, 'routed'), ['cell-5', 'cell-5', 'cell-5', 'cell-5'], 'routers 1-2, Envoys 1-2');
    noneFailed(results, 'load during the move');
    assert.ok(results.some((r) => r.market === market && r.cell === 'cell-5'));
  });

  it('refuses to retire a cell that owns a market (cell_not_empty) and changes nothing', async () => {
    const r = await cellctl(['cells', 'retire', 'cell-5']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cell cell-5 owns 1 market\(s\).*\(cell_not_empty\)/);
    assert.ok((await cells()).some((c) => c.id === 'cell-5' && c.state === 'active'));
    assert.equal(await owner(market), 'cell-5');
    const canary = await cellctl(['cells', 'retire', 'cell-0']);
    assert.equal(canary.code, 1);
    assert.match(canary.stderr, /canary/);
  });

  it('retires it with --evacuate while traffic flows: its market moves off, then its process, registration, record and data go, with no failed request', async () => {
    const dry = await cellctl(['cells', 'retire', 'cell-5', '--evacuate', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /plan \(dry run, nothing changed\).*"market":"portland".*"then":"retire"/);
    assert.equal(await owner(market), 'cell-5', 'the dry run moved nothing');
    const load = startLoad({ targets: planes(), markets: [market, ...others], rps: 30, maxMs: 180_000 });
    await new Promise((r) => setTimeout(r, 1000));
    const retired = await cellctl(['cells', 'retire', 'cell-5', '--evacuate']);
    await new Promise((r) => setTimeout(r, 1000));
    const results = await load.stop();
    assert.equal(retired.code, 0, retired.stderr);
    assert.match(retired.stdout, /evacuating cell-5 first: 1 market\(s\)/);
    assert.match(retired.stdout, /retired cell-5: record deleted, processes stopped/);
    const now = await owner(market);
    assert.ok(now && now !== 'cell-5', `portland is on ${now}`);
    assert.deepEqual(await answeredBy(market, 'after'), [now, now, now, now]);
    assert.ok(!(await cells()).some((c) => c.id === 'cell-5'), 'no record');
    assert.ok(!(await children()).some((c) => c.name.startsWith('cell-5.')), 'no process');
    assert.deepEqual(await cellInstances('cell-5'), [], 'no registration');
    assert.equal(existsSync(join(data, 'cells', 'cell-5')), false, 'no data directory');
    assert.equal(existsSync(join(data, 'backups', 'cell-5')), false, 'no copy of its database');
    noneFailed(results, 'load during the retire');
    assert.ok(
      results.some((r) => r.market === market && r.cell === 'cell-5') && results.some((r) => r.market === market && r.cell === now),
    );
  });

  it('audits every add and retire, dry runs and refusals included', async () => {
    const token = readFileSync(join(data, 'tokens', 'operator'), 'utf8').trim();
    const res = await fetch(`${topo.controlPlane.url}/admin/audit?limit=100`, { headers: { authorization: `Bearer ${token}` } });
    const { audit } = (await res.json()) as { audit: { action: string; target: string; result: string }[] };
    const mine = audit
      .filter((a) => a.target === 'cell-5' && /add|retire/.test(a.action))
      .map((a) => `${a.action}:${a.result}`)
      .sort();
    for (const want of [
      'add (dry run):dry-run',
      'add:ok',
      'add:refused',
      'retire:refused',
      'retire (dry run):dry-run',
      'retire:started',
      'retire:ok',
    ])
      assert.ok(mine.includes(want), `${want} in ${mine.join(', ')}`);
  });

  it('places by measured load: each cell reports its load, rebalance plans moves off the busy cell (dry run moves nothing), then moves them with no failed request; assign without a cell picks the least loaded cell', async () => {
    const all = await json<{ market: string; cell: string }[]>(['markets']);
    const on = (c: string) => all.filter((m) => m.cell === c).map((m) => m.market);
    const busy = on('cell-1').slice(0, 3);
    const quiet = on('cell-2').slice(0, 1);
    const canaryBefore = on('cell-0').length;
    // three markets of cell-1 and one of cell-2 share the load evenly: cell-1 takes three quarters
    const load = startLoad({ targets: planes(), markets: [...busy, ...quiet], rps: 24, maxMs: 180_000 });
    const mark = (what: string) => process.stdout.write(`# ${new Date().toISOString()} ${what}\n`);
    await new Promise((r) => setTimeout(r, 3000));
    type Plan = {
      plan: { market: string; from: string; to: string; rps: number }[];
      before: { cell: string; rps: number }[];
      load: { cells: { cell: string; rps: number; p99Ms: number | null; orders: number; dbBytes: number }[] };
    };
    mark('rebalance --dry-run');
    const dry = await json<Plan>(['rebalance', '--dry-run', '--window', '3s']);
    const c1 = dry.load.cells.find((c) => c.cell === 'cell-1')!;
    assert.ok(c1.rps > 10 && c1.p99Ms !== null && c1.orders > 0 && c1.dbBytes > 0, JSON.stringify(c1));
    assert.ok(dry.plan.length >= 1, JSON.stringify(dry));
    assert.ok(
      dry.plan.every((m) => m.from === 'cell-1' && m.to === 'cell-2' && busy.includes(m.market)),
      JSON.stringify(dry.plan),
    );
    assert.deepEqual(await json<{ market: string; cell: string }[]>(['markets']), all, 'the dry run moved nothing');
    // a new market, assigned without a cell while cell-1 is busy
    mark('assign newtown');
    const added = await json<{ record: { cell: string } }>(['assign', 'newtown']);
    mark('rebalance');
    const r = await cellctl(['rebalance', '--window', '3s', '--max-moves', '2']);
    mark('rebalanced');
    await new Promise((res) => setTimeout(res, 1000));
    const results = await load.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /plan:\n {2}\S+: cell-1 → cell-2/);
    assert.match(r.stdout, /rebalance: [12] moved, 0 failed/);
    const now = await json<{ market: string; cell: string }[]>(['markets']);
    const moved = busy.filter((m) => now.find((x) => x.market === m)?.cell === 'cell-2');
    assert.ok(moved.length >= 1, `moved: ${moved.join(', ')}`);
    assert.equal(added.record.cell, 'cell-2', 'a new market goes to the least loaded cell for its capacity, not the canary');
    assert.ok(now.filter((m) => m.cell === 'cell-0').length <= canaryBefore, 'the canary took nothing');
    noneFailed(results, 'load during the rebalance');
    process.stdout.write(`# rebalance: ${moved.length} moved (${moved.join(', ')}) under ${results.length} requests, none failed\n`);
  });
});
