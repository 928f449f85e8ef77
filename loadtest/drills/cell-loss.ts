/**
 * cell-loss: a cell's data is destroyed under load and recovered from its continuous backup.
 * At the window start the cell is SIGKILLed and held down and its data directory removed; once
 * Consul no longer passes it, `cellctl evacuate <cell> --from-backup` moves its markets onto
 * healthy cells from the copy. Reported: the recovery point objective (loss minus recovery
 * point), the recovery time (loss until the markets were moved), and the orders lost and
 * duplicated, from the load's own acknowledged creates against the markets' listings on each
 * plane afterwards (cell-loss-judge.ts). After the traffic the cell is started again, empty, and
 * made active, so the topology is whole. Sabotage `--stale-backup` recovers from a copy taken
 * before the load (its record left as the cell last wrote it): orders acknowledged before the
 * claimed recovery point are then missing, and the drill must FAIL. docs/drills.md §The cell-loss drill (`cell-loss`).
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DrillEnv } from '../env/types.js';
import type { Plane } from '../plan.js';
import { createdOrders, listMarket, type MarketListing } from '../soak/orders.js';
import type { Verdict } from '../verdicts.js';
import { defaultCell, FAILS_OBSERVED, spillGate } from './cell-faults.js';
import { countLoss, lossVerdicts, type LossCount } from './cell-loss-judge.js';
import type { DrillHooks } from './hooks.js';
import type { Drill, DrillContext, DrillOptions } from './types.js';

/** The recovery point objective the drill holds the backup to (the copy runs every 2 s; docs/drills.md says why 10). */
export const RPO_TARGET_S = 10;
/** Longest wait for Consul to stop passing the killed cell. */
const DOWN_WAIT_MS = 60_000;

/** What `cellctl evacuate --from-backup --json` prints (docs/operators.md). */
interface Recovery {
  recoveryPoint: string;
  rpoSeconds: number;
  markets: { market: string; to: string; rows: number; orders: number }[];
  durationMs: number;
}

interface LossState {
  cell: string;
  dirs: { data: string; backup: string };
  lossAt?: number;
  recoveredAt?: number;
  recovery?: Recovery;
  error?: string;
  restored?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const firstLine = (s: string) => s.trim().split('\n')[0] ?? '';
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
/** The copy of the backup taken before the load (--stale-backup), by topology. */
const stale = new WeakMap<DrillEnv, string>();
const states = new WeakMap<DrillContext, LossState>();

function dirsOf(env: DrillEnv, cell: string): { data: string; backup: string } {
  const dirs = env.cellDirs?.(cell);
  if (!dirs) throw new Error(`cell-loss needs the data and backup directories of ${cell} (a cellctl up topology)`);
  return dirs;
}

/** Waits until no instance of `cell` passes its checks in Consul (what the recovery requires). */
async function untilDown(env: DrillEnv, cell: string): Promise<void> {
  for (const until = Date.now() + DOWN_WAIT_MS; ; await sleep(200)) {
    if (!(await env.cellVersions())[cell]?.length) return;
    if (Date.now() > until) throw new Error(`${cell} still passes its checks ${DOWN_WAIT_MS / 1000} s after the kill`);
  }
}

/** Sabotage: puts the copy taken before the load in place of the backup's database (its record stays). */
function plantStaleCopy(ctx: DrillContext, s: LossState): void {
  const copy = stale.get(ctx.env);
  if (!copy) throw new Error('no copy of the backup was taken before the load');
  const db = join(s.dirs.backup, 'cell.sqlite');
  copyFileSync(join(copy, 'cell.sqlite'), `${db}.drill.tmp`);
  renameSync(`${db}.drill.tmp`, db);
  rmSync(copy, { recursive: true, force: true });
  stale.delete(ctx.env);
  ctx.mark(`sabotage (--stale-backup): ${s.cell}'s backup database replaced by the copy taken before the load (backup.json kept)`);
}

async function recover(ctx: DrillContext, s: LossState): Promise<void> {
  await untilDown(ctx.env, s.cell);
  ctx.mark(`${s.cell} no longer passes its checks (${seconds(Date.now() - s.lossAt!)} after the loss)`);
  if (ctx.opts.staleBackup) plantStaleCopy(ctx, s);
  const r = await ctx.env.cellctl(['evacuate', s.cell, '--from-backup', '--json'], 120_000);
  s.recoveredAt = Date.now();
  if (r.code !== 0) throw new Error(`cellctl evacuate ${s.cell} --from-backup exit ${r.code}: ${firstLine(r.stderr || r.stdout)}`);
  s.recovery = JSON.parse(r.stdout) as Recovery;
  const rec = s.recovery;
  ctx.mark(
    `evacuate ${s.cell} --from-backup: ${rec.markets.length} markets in ${seconds(rec.durationMs)}, recovery point ${rec.recoveryPoint} (${seconds(s.lossAt! - Date.parse(rec.recoveryPoint))} before the loss)`,
  );
}

/** Starts the lost cell again, empty, and makes it active (markets stay where the recovery put them). */
async function restore(ctx: DrillContext, s: LossState): Promise<void> {
  await ctx.env.restart(s.cell);
  const r = await ctx.env.cellctl(['drain', s.cell, '--undo']);
  if (r.code !== 0) throw new Error(`cellctl drain ${s.cell} --undo exit ${r.code}: ${firstLine(r.stderr || r.stdout)}`);
  ctx.mark(`${s.cell} started again with an empty database and active`);
}

/** The recovery's own verdicts: done, every market off the lost cell, the recovery point within target. */
async function recoveryVerdicts(ctx: DrillContext, s: LossState): Promise<Verdict[]> {
  const owners = await ctx.env.owners();
  const left = Object.entries(owners)
    .filter(([, c]) => c === s.cell)
    .map(([m]) => m);
  const rec = s.recovery;
  const rpo = rec && s.lossAt !== undefined ? (s.lossAt - Date.parse(rec.recoveryPoint)) / 1000 : undefined;
  return [
    {
      name: `${s.cell} recovered from its backup (evacuate --from-backup)`,
      pass: rec !== undefined && rec.markets.length > 0 && left.length === 0,
      measured: rec
        ? `${rec.markets.length} markets moved in ${seconds(rec.durationMs)}; recovery time ${seconds(s.recoveredAt! - s.lossAt!)} from the loss${left.length ? `; still on ${s.cell}: ${left.join(', ')}` : ''}`
        : (s.error ?? 'never ran'),
      threshold: `every market of ${s.cell} moved to a healthy cell`,
    },
    {
      name: 'recovery point objective (loss minus recovery point)',
      pass: rpo !== undefined && rpo >= 0 && rpo <= RPO_TARGET_S,
      measured:
        rpo === undefined ? 'no recovery point' : `${rpo.toFixed(1)} s (the command's upper bound: ${rec!.rpoSeconds.toFixed(1)} s)`,
      threshold: `0 to ${RPO_TARGET_S} s`,
    },
    {
      name: `${s.cell} back, empty and active`,
      pass: s.restored === 'ok',
      measured: s.restored ?? 'not tried',
      threshold: 'restarted and active',
    },
  ];
}

/** Lists every market the load created orders in, through the first replica of `plane`. */
async function listings(env: DrillEnv, plane: Plane, markets: string[]): Promise<MarketListing[]> {
  const owners = await env.owners();
  const base = env.targets([plane])[0];
  const out: MarketListing[] = [];
  for (const m of markets) {
    const owner = owners[m] ?? '';
    out.push(
      base ? await listMarket(base.url, m, owner, env.fetch) : { market: m, owner, answeredBy: '', ids: [], error: `no ${plane} replica` },
    );
  }
  return out;
}

/** The drill. */
export const CELL_LOSS: Drill & DrillHooks = {
  name: 'cell-loss',
  movesMarkets: true,
  description:
    'Kill one cell and delete its data directory under load, recover its markets with evacuate --from-backup: RPO, recovery time, orders lost and duplicated; every order acknowledged before the recovery point must survive.',
  faultCells: (env, opts) => [defaultCell(env.cells(), opts)],
  // The loss must bite (its markets fail until the recovery) and no other cell's market may notice.
  expectations: () => ({ faultObserved: FAILS_OBSERVED, spillZero: true }),
  gates: spillGate,
  windowUntilHealed: true,
  sabotage: ['staleBackup'],
  preflight(env: DrillEnv, opts: DrillOptions) {
    const cell = defaultCell(env.cells(), opts);
    if (cell === env.canaryCell()) throw new Error(`cell-loss destroys a cell: not the canary ${cell}`);
    const dirs = dirsOf(env, cell);
    if (!existsSync(join(dirs.backup, 'backup.json'))) {
      throw new Error(`${cell} has no continuous backup in ${dirs.backup} (cells run with --backup-dir under cellctl up)`);
    }
    if (opts.staleBackup) {
      // The copy is whole: each backup is written beside the last and renamed over it.
      const copy = mkdtempSync(join(tmpdir(), 'cellsim-stale-backup-'));
      copyFileSync(join(dirs.backup, 'cell.sqlite'), join(copy, 'cell.sqlite'));
      stale.set(env, copy);
    }
  },
  async inject(ctx) {
    const cell = ctx.faultCells[0]!;
    const s: LossState = { cell, dirs: dirsOf(ctx.env, cell) };
    states.set(ctx, s);
    await ctx.env.killAndHold(cell);
    s.lossAt = Date.now();
    rmSync(s.dirs.data, { recursive: true, force: true });
    ctx.mark(`${cell} killed and held down, its data directory ${s.dirs.data} removed`);
    return undefined;
  },
  async heal(ctx) {
    const s = states.get(ctx);
    if (!s) return;
    try {
      await recover(ctx, s);
    } catch (err) {
      s.error = firstLine((err as Error).message);
      ctx.mark(`recovery failed: ${s.error}`);
    }
  },
  async verify(ctx) {
    const s = states.get(ctx);
    const copy = stale.get(ctx.env);
    if (copy) rmSync(copy, { recursive: true, force: true });
    stale.delete(ctx.env);
    if (!s) return [{ name: 'cell lost', pass: false, measured: 'never injected', threshold: 'injected' }];
    try {
      await restore(ctx, s);
      s.restored = 'ok';
    } catch (err) {
      s.restored = firstLine((err as Error).message);
      ctx.mark(`restoring ${s.cell} failed: ${s.restored}`);
    }
    return recoveryVerdicts(ctx, s);
  },
  async afterTraffic(ctx, run) {
    const s = states.get(ctx);
    if (!s?.recovery || s.lossAt === undefined || s.recoveredAt === undefined) return { verdicts: [] };
    const created = await createdOrders(run.resultsFile);
    const markets = [...new Set(created.map((o) => o.market))].sort();
    const facts = {
      recovered: s.recovery.markets.map((m) => m.market),
      recoveryPoint: Date.parse(s.recovery.recoveryPoint),
      lossAt: s.lossAt,
      recoveredAt: s.recoveredAt,
    };
    const counts: Record<string, LossCount> = {};
    const verdicts: Verdict[] = [];
    for (const plane of ctx.opts.planes) {
      const c = countLoss(created, await listings(ctx.env, plane, markets), facts);
      counts[plane] = c;
      verdicts.push(...lossVerdicts(c, plane));
      ctx.mark(
        `orders (${plane}): ${c.lostSafe} of ${c.safe} lost before the recovery point, ${c.lostAtRisk} of ${c.atRisk} at risk lost, ${c.lostKept} of ${c.kept} others lost, ${c.duplicated} duplicated`,
      );
    }
    const rpoSeconds = (s.lossAt - facts.recoveryPoint) / 1000;
    writeFileSync(
      join(run.reportDir, 'cell-loss.json'),
      `${JSON.stringify({ cell: s.cell, rpoSeconds, recoveryMs: s.recoveredAt - s.lossAt, facts, recovery: s.recovery, orders: counts }, null, 1)}\n`,
    );
    return { verdicts };
  },
};

/** Reads a report's cell-loss.json (tests, and anyone comparing runs). */
export function readLossReport(reportDir: string): { rpoSeconds: number; recoveryMs: number; orders: Record<string, LossCount> } {
  return JSON.parse(readFileSync(join(reportDir, 'cell-loss.json'), 'utf8')) as ReturnType<typeof readLossReport>;
}
