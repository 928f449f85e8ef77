/**
 * Recovery of a dead cell on a real topology (`cellctl up --any-ports`: real Consul, cells, routers,
 * control plane, Envoys): orders on a cell's markets, the cell SIGKILLed and held down, its data
 * directory destroyed, then `cellctl evacuate <cell> --from-backup` moves its markets to healthy
 * cells from the continuous backup. Every order acknowledged before the reported recovery point
 * is served by both planes afterwards, each once; a second recovery doubles nothing; a live cell
 * is refused.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ManagedProcess } from '../infra/process.js';
import { cellctlJson, runCellctl, startUp } from '../infra/harness/up.js';

interface Topo {
  consul: { url: string };
  supervisor: { url: string };
  routers: { url: string }[];
  envoys: { url: string }[];
}
interface Recovery {
  cell: string;
  dryRun: boolean;
  recoveryPoint: string;
  rpoSeconds: number;
  markets: { market: string; to: string; rows: number; orders: number }[];
}

describe('cell loss on a real topology (cellctl up): evacuate --from-backup', () => {
  let data: string;
  let up: ManagedProcess;
  let topo: Topo;

  const cellctl = (args: string[]) => runCellctl(data, args);
  const json = <T>(args: string[]) => cellctlJson<T>(data, args);
  const markets = () => json<{ market: string; cell: string; epoch: number }[]>(['markets']);
  const planes = () => [...topo.routers.map((r) => r.url), ...topo.envoys.map((e) => e.url)];
  const passing = async (cell: string) => {
    const token = readFileSync(join(data, 'tokens', 'consul-router'), 'utf8').trim();
    const res = await fetch(`${topo.consul.url}/v1/health/service/cellsim-cell?passing=1`, { headers: { 'x-consul-token': token } });
    return ((await res.json()) as { Service: { Meta: { cell: string } } }[]).filter((e) => e.Service.Meta.cell === cell).length;
  };
  const order = async (market: string, key: string) => {
    const res = await fetch(`${topo.routers[0]!.url}/v1/orders`, {
      method: 'POST',
      headers: { 'x-market-id': market, 'idempotency-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: 'c-1', items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
    });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    return { id: (JSON.parse(text) as { id: string }).id, market, ackedAt: Date.now() };
  };
  const listed = async (base: string, market: string) => {
    const res = await fetch(`${base}/v1/orders?limit=200`, { headers: { 'x-market-id': market } });
    assert.equal(res.status, 200, `${base} list ${market}: ${res.status}`);
    return ((await res.json()) as { orders: { id: string }[] }).orders.map((o) => o.id);
  };

  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'cellsim-cell-loss-'));
    up = await startUp({ data });
    topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
  });
  after(async () => {
    await up?.stop(30_000);
    if (data) rmSync(data, { recursive: true, force: true });
  });

  it('recovers a killed cell whose data directory is gone: every order acknowledged before the recovery point, once, on both planes', async () => {
    const before = await markets();
    const cell = 'cell-1';
    const mine = before.filter((m) => m.cell === cell).map((m) => m.market);
    assert.ok(mine.length > 0, `${cell} owns markets: ${JSON.stringify(before)}`);
    const acked: { id: string; market: string; ackedAt: number }[] = [];
    for (const [i, m] of mine.entries()) for (let k = 0; k < 8; k++) acked.push(await order(m, `loss-${i}-${k}`));
    // the next copy after the last acknowledgement, then a few more orders that may miss it
    const info = join(data, 'backups', cell, 'backup.json');
    const last = acked[acked.length - 1]!.ackedAt;
    for (let i = 0; i < 150; i++) {
      if (existsSync(info) && Date.parse((JSON.parse(readFileSync(info, 'utf8')) as { startedAt: string }).startedAt) > last) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let k = 0; k < 3; k++) acked.push(await order(mine[0]!, `loss-late-${k}`));

    const token = readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim();
    const killed = await fetch(`${topo.supervisor.url}/children/${cell}.blue/kill?hold=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(killed.status, 200, await killed.text());
    rmSync(join(data, 'cells', cell), { recursive: true, force: true });
    for (let i = 0; i < 150 && (await passing(cell)) > 0; i++) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await passing(cell), 0, `${cell} still passes its checks`);

    const dry = await json<Recovery>(['evacuate', cell, '--from-backup', '--dry-run']);
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.markets.map((m) => m.market).sort(), [...mine].sort());
    assert.deepEqual(await markets(), before, 'the dry run changed no market');

    const t0 = Date.now();
    const r = await json<Recovery>(['evacuate', cell, '--from-backup']);
    process.stdout.write(
      `# evacuate --from-backup: ${Date.now() - t0} ms, RPO ${r.rpoSeconds.toFixed(1)} s, ${JSON.stringify(r.markets)}\n`,
    );
    assert.equal(r.dryRun, false);
    const after = await markets();
    for (const m of r.markets) {
      assert.notEqual(m.to, cell);
      const rec = after.find((x) => x.market === m.market);
      assert.equal(rec?.cell, m.to, `${m.market} owned by its target`);
      assert.equal(rec?.epoch, before.find((x) => x.market === m.market)!.epoch + 1, 'epoch raised');
      assert.ok(m.rows >= m.orders && m.orders >= 8, JSON.stringify(m));
    }
    const rp = Date.parse(r.recoveryPoint);
    const safe = acked.filter((a) => a.ackedAt < rp);
    assert.ok(safe.length >= mine.length * 8, `${safe.length} orders acknowledged before the recovery point`);
    for (const base of planes()) {
      for (const m of r.markets) {
        const ids = await listed(base, m.market);
        assert.equal(new Set(ids).size, ids.length, `${base} ${m.market}: no order twice`);
        assert.equal(ids.length, m.orders, `${base} ${m.market}: the copy's orders, no more, no fewer`);
        const lost = safe.filter((a) => a.market === m.market && !ids.includes(a.id));
        assert.deepEqual(lost, [], `${base} ${m.market}: orders acknowledged before the recovery point are all there`);
      }
    }
    // the same key again answers the recovered order (its idempotency record came along)
    const first = safe[0]!;
    const res = await fetch(`${topo.routers[0]!.url}/v1/orders`, {
      method: 'POST',
      headers: { 'x-market-id': first.market, 'idempotency-key': 'loss-0-0', 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: 'c-1', items: [{ sku: 'tea', qty: 1, priceCents: 300 }], address: '1 Main St' }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal((JSON.parse(text) as { id: string }).id, first.id);

    const again = await json<Recovery>(['evacuate', cell, '--from-backup']);
    assert.deepEqual(again.markets, [], 'a second recovery finds nothing left to move');
    const cells = await json<{ id: string; state: string }[]>(['cells']);
    assert.equal(cells.find((c) => c.id === cell)?.state, 'down');
  });

  it('refuses a live cell (online evacuation is for that) and writes nothing', async () => {
    const before = await markets();
    const r = await cellctl(['evacuate', 'cell-2', '--from-backup']);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /cell-2 has a passing instance.*\(conflict\)/);
    assert.deepEqual(await markets(), before);
  });
});
