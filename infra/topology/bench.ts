/**
 * `npm run bench:operators`: on one real topology (`cellctl up --any-ports --cells 3`), under a
 * steady order load through both routers and both Envoys: the freeze window of repeated
 * migrations (p50/p99/max), and the time to move a market holding 10,000 orders. Prints one
 * table; loopback only, bounded in count and time.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { startProcess } from '../harness/process.js';
import { startLoad } from './load.js';

const CELLCTL = fileURLToPath(new URL('../../bin/cellctl.js', import.meta.url));
const MIGRATIONS = Number(process.env.BENCH_MIGRATIONS ?? 20);
const BIG = Number(process.env.BENCH_ORDERS ?? 10_000);

interface Topo {
  routers: { url: string }[];
  envoys: { url: string }[];
  cells: { id: string; url: string }[];
}
interface Rec {
  state: string;
  freezeMs?: number;
  moveMs?: number;
  rows: { snapshot: number; delta: number };
  phases?: Record<string, number>;
  history?: { state: string; note?: string }[];
}

/** How many delta copies the freeze window needed (from the `verifying` history note). */
const deltaCopies = (rec: Rec) =>
  Number(/after (\d+) delta cop/.exec(rec.history?.find((h) => h.state === 'verifying')?.note ?? '')?.[1] ?? NaN);

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)] ?? NaN;

/**
 * The longest event-loop stall of a cell since the previous call, ms: prom-client's
 * `nodejs_eventloop_lag_max_seconds`, whose histogram resets at every scrape.
 */
async function stallMs(cellUrl: string): Promise<number> {
  const text = await (await fetch(`${cellUrl}/metrics`)).text();
  return Math.round(Number(/^nodejs_eventloop_lag_max_seconds(?:{[^}]*})? (\S+)$/m.exec(text)?.[1] ?? NaN) * 1000);
}

/** NDJSON of `n` delivered orders of `market`, in the cells' export format. */
function syntheticExport(market: string, n: number): string {
  const now = Date.now();
  const lines: string[] = [JSON.stringify({ type: 'header', market, cursor: 0 })];
  for (let i = 0; i < n; i++) {
    const id = `ord_${randomUUID()}`;
    const at = now - (n - i) * 10;
    const items = JSON.stringify([{ sku: 'burrito', qty: 1, priceCents: 1299 }]);
    lines.push(
      JSON.stringify({
        type: 'order',
        id,
        market,
        customer_id: `c-${i}`,
        items,
        address: '1 Market St',
        total_cents: 1299,
        status: 'DELIVERED',
        cancel_reason: null,
        created_at: at,
        updated_at: at,
      }),
      JSON.stringify({ type: 'history', order_id: id, n: 1, market, status: 'PENDING', reason: null, at }),
      JSON.stringify({ type: 'history', order_id: id, n: 2, market, status: 'DELIVERED', reason: null, at }),
      JSON.stringify({ type: 'idempotency', market, key: `bulk-${i}`, body_hash: 'x'.repeat(64), order_id: id, created_at: at }),
      JSON.stringify({
        type: 'delivery',
        order_id: id,
        market,
        status: 'DELIVERED',
        courier: 'courier-1',
        reason: null,
        created_at: at,
        updated_at: at,
      }),
      JSON.stringify({
        type: 'saga',
        order_id: id,
        market,
        state: 'DONE',
        active: 0,
        attempts: 1,
        last_error: null,
        next_at: at,
        deadline_at: at,
        created_at: at,
        updated_at: at,
      }),
    );
  }
  lines.push(JSON.stringify({ type: 'end', cursor: 0, rows: lines.length - 1 }));
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const data = mkdtempSync(join(tmpdir(), 'cellsim-bench-ops-'));
  const env = { ...process.env, CELLSIM_DATA: data };
  const cellctl = (args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [CELLCTL, ...args], { env, timeout: 120_000 }, (err, out, errOut) =>
        err ? reject(new Error(errOut || err.message)) : resolve(out),
      ),
    );
  process.stdout.write(`starting a topology in ${data} ...\n`);
  const up = await startProcess({
    name: 'bench-up',
    command: process.execPath,
    args: [CELLCTL, 'up', '--data', data, '--any-ports', '--cells', '3', '--log-level', 'warn'],
    env: { CELLSIM_CLEANUP_GRACE_MS: '300' },
    ready: { logLine: /cellsim is up/ },
    readyTimeoutMs: 180_000,
  });
  try {
    const topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
    const token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
    const targets = [...topo.routers.map((r) => r.url), ...topo.envoys.map((e) => e.url)];
    const markets = ['sf', 'la', 'nyc', 'boise', 'chicago'];
    const load = startLoad({ targets, markets, rps: 40, maxMs: 280_000 });
    await new Promise((r) => setTimeout(r, 2000));

    // 1. Freeze windows: move sf and la back and forth between cell-1 and cell-2.
    const freezes: number[] = [];
    const moves: number[] = [];
    const phases = new Map<string, number[]>();
    const copies: number[] = [];
    for (let i = 0; i < MIGRATIONS; i++) {
      const market = i % 2 === 0 ? 'sf' : 'la';
      const owner = (JSON.parse(await cellctl(['markets', '--json'])) as { market: string; cell: string }[]).find(
        (m) => m.market === market,
      )!.cell;
      const to = owner === 'cell-1' ? 'cell-2' : 'cell-1';
      const rec = JSON.parse(await cellctl(['migrate', market, '--to', to, '--json', '--wait-cleanup'])) as Rec;
      if (rec.freezeMs !== undefined) freezes.push(rec.freezeMs);
      if (rec.moveMs !== undefined) moves.push(rec.moveMs);
      if (!Number.isNaN(deltaCopies(rec))) copies.push(deltaCopies(rec));
      for (const [k, v] of Object.entries(rec.phases ?? {})) phases.set(k, [...(phases.get(k) ?? []), v]);
      process.stdout.write(
        `  migration ${i + 1}/${MIGRATIONS}: ${market} → ${to} ${rec.state}, freeze ${rec.freezeMs} ms, ${deltaCopies(rec)} delta cop${deltaCopies(rec) === 1 ? 'y' : 'ies'}\n`,
      );
    }

    // 2. A market with 10,000 orders: bulk-loaded into cell-1, then moved to cell-2 under the same load.
    const big = 'bench-10k';
    await cellctl(['assign', big, 'cell-1']);
    const cell1 = topo.cells.find((c) => c.id === 'cell-1')!.url;
    const cell2 = topo.cells.find((c) => c.id === 'cell-2')!.url;
    await Promise.all([stallMs(cell1), stallMs(cell2)]); // resets both histograms
    const bulkAt = Date.now();
    const res = await fetch(`${cell1}/admin/markets/${big}/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
      body: syntheticExport(big, BIG),
    });
    if (!res.ok) throw new Error(`bulk import failed: ${res.status} ${await res.text()}`);
    const bulkStall = await stallMs(cell1);
    await stallMs(cell2);
    const t0 = Date.now();
    const bigRec = JSON.parse(await cellctl(['migrate', big, '--to', 'cell-2', '--json'])) as Rec & { summary?: { orders: number } };
    const wall = Date.now() - t0;
    const moveStall = [await stallMs(cell1), await stallMs(cell2)];
    const results = await load.stop();
    const failed = results.filter((r) => r.status !== 201);
    /** The part of the run a request was sent in. */
    const phaseOf = (at: number) =>
      at < bulkAt ? 'migrations' : at < t0 ? `bulk import of ${BIG} orders into cell-1` : `move of ${BIG} orders`;

    const t = new Table({ head: ['figure (load: 40 orders/s through 2 routers + 2 Envoys)', 'value'] });
    t.push(
      [`freeze window p50 (${freezes.length} migrations)`, `${quantile(freezes, 0.5)} ms`],
      ['freeze window p99', `${quantile(freezes, 0.99)} ms`],
      ['freeze window max', `${Math.max(...freezes)} ms`],
      ['move time p50 (start → flip)', `${quantile(moves, 0.5)} ms`],
      ['freeze window parts, p50 each', [...phases].map(([k, v]) => `${k} ${quantile(v, 0.5)}`).join(', ')],
      [
        'delta copies inside the freeze: mean / max',
        `${(copies.reduce((a, b) => a + b, 0) / copies.length).toFixed(2)} / ${Math.max(...copies)}`,
      ],
      [`move of ${bigRec.summary?.orders ?? '?'} orders: start → flip`, `${bigRec.moveMs} ms`],
      [`move of ${BIG} orders: freeze window`, `${bigRec.freezeMs} ms`],
      [`move of ${BIG} orders: cellctl migrate wall time`, `${wall} ms`],
      [`longest event-loop stall: cell-1 during the bulk import of ${BIG} orders`, `${bulkStall} ms`],
      [`longest event-loop stall during the move: cell-1 (source) / cell-2 (target)`, `${moveStall[0]} / ${moveStall[1]} ms`],
      ['requests during the run / failed', `${results.length} / ${failed.length}`],
      ['requests retried after 503 + Retry-After', `${results.filter((r) => r.attempts > 1).length}`],
      ['machine load average (1 min), start → end', `${loadAtStart.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`],
    );
    process.stdout.write(`${t.toString()}\n`);
    if (failed.length) {
      const kinds = new Map<string, number>();
      for (const f of failed) {
        const key = `${f.status} ${/"code":"([a-z_]+)"/.exec(f.error ?? '')?.[1] ?? ''} via ${topo.routers.some((r) => r.url === f.target) ? 'router' : 'envoy'} to ${f.cell ?? '?'} during ${phaseOf(f.sentAt)}`;
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
      }
      process.stdout.write(`failed by kind: ${JSON.stringify(Object.fromEntries(kinds))}\n`);
      process.stdout.write(`failed samples: ${JSON.stringify(failed.slice(0, 3))}\n`);
    }
  } finally {
    await up.stop(30_000);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:operators: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
