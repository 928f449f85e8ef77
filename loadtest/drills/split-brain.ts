/**
 * `split-brain-migration` (docs/drills.md §Network drills): a market's migration is started and
 * its source cell's host is cut off mid-migration (as soon as Consul's migration record shows a
 * step past validation), then restored at the window's end. The migration must roll back or
 * complete, and the drill's own writes of that market, sent through every router and Envoy the
 * whole time, judge it: every acknowledged order is read back from the market's owner afterwards,
 * and no cell acknowledged a write of the market after another cell had.
 */
import type { DrillEnv } from '../env/types.js';
import type { Target } from '../plan.js';
import type { Verdict } from '../verdicts.js';
import { CELL_SABOTAGE, defaultCell, spillGate, targetCells } from './cell-faults.js';
import { hostsOf } from './network.js';
import { planMoves } from './operations.js';
import { createOrder, ok, readOrder, type PlaneAnswer, type PlaneFetch } from './plane-probe.js';
import type { Drill, DrillContext } from './types.js';

/** States in which the migration is under way (the cut must land in one). */
export const MID_STATES = new Set(['copying', 'draining', 'freezing', 'delta', 'verifying', 'flipping', 'flipped']);
/** States a migration that rolled back or completed ends in (cleanup-wait: flipped, the source's purge after its grace). */
const SETTLED = new Set(['rolled-back', 'done', 'cleanup-wait']);
const TERMINAL = new Set(['rolled-back', 'done', 'failed']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The markets of `owners` free to move: none whose last migration is still under way (a move in
 * its cleanup grace refuses another, and one drill run may follow another's within it).
 */
export async function movable(env: DrillEnv, owners: Record<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [market, cell] of Object.entries(owners)) {
    const rec = await env.migration?.(market).catch(() => undefined);
    if (!rec || TERMINAL.has(rec.state)) out[market] = cell;
  }
  return out;
}

/** One acknowledged or refused write of the drill's own, and what reading it back gave. */
export interface Write extends PlaneAnswer {
  replica: string;
  readBack?: PlaneAnswer;
}

/** What one run saw. */
export interface SplitRun {
  market: string;
  from: string;
  to: string;
  /** The hosts cut (the source; every cell under --fault-every-cell). */
  cut: string[];
  /** The migration's state when the cut was made; undefined when nothing was cut. */
  cutState?: string;
  finalState?: string;
  owner?: string;
  code?: number;
  writes: Write[];
  stopWriter?: () => Promise<void>;
  migrate?: Promise<void>;
}
const runs = new WeakMap<DrillContext, SplitRun>();

/** Writes one order of `market` every `everyMs` through the targets in turn, until stopped (at most 2,000). */
function startWriter(run: SplitRun, targets: Target[], everyMs: number, get?: PlaneFetch): () => Promise<void> {
  let stopped = false;
  const pending: Promise<unknown>[] = [];
  const loop = (async () => {
    for (let i = 0; !stopped && i < 2000; i++, await sleep(everyMs)) {
      const t = targets[i % targets.length]!;
      pending.push(
        createOrder(t.url, run.market, `split-${run.market}-${Date.now()}-${i}`, get).then((a) =>
          run.writes.push({ ...a, replica: t.replica }),
        ),
      );
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    await Promise.all(pending);
  };
}

/** The safety verdicts of a run: no acknowledged order lost, none written by two cells. */
export function splitVerdicts(run: SplitRun | undefined): Verdict[] {
  if (!run) return [{ name: 'migration started', pass: false, measured: 'no run', threshold: 'a migration' }];
  const acked = run.writes.filter((w) => ok(w) && w.id);
  const lost = acked.filter((w) => !w.readBack || !ok(w.readBack) || w.readBack.cell !== run.owner);
  const byCell: Record<string, number> = {};
  for (const w of acked) byCell[w.cell] = (byCell[w.cell] ?? 0) + 1;
  // Taken by the source though sent after the target had acknowledged one: two cells took writes.
  // Measured from the target's first answer, not its first request's send: a request a plane held
  // while the freeze barrier waited for a slower plane was sent before that plane's last write to
  // the source, which the source took before its freeze, and reaches the target after the flip.
  const sorted = [...acked].sort((a, b) => a.start - b.start);
  const tos = sorted.filter((w) => w.cell === run.to).map((w) => w.end);
  const firstTo = tos.length ? Math.min(...tos) : undefined;
  const split = sorted.filter(
    (w) => (w.cell !== run.from && w.cell !== run.to) || (w.cell === run.from && firstTo !== undefined && w.start > firstTo),
  );
  const toAfterRollback = run.owner === run.from ? acked.filter((w) => w.cell === run.to).length : 0;
  return [
    {
      name: 'source host cut mid-migration',
      pass: run.cutState !== undefined && MID_STATES.has(run.cutState),
      measured: run.cutState === undefined ? 'nothing cut' : `${run.cut.join(', ')} cut in state ${run.cutState}`,
      threshold: `cut while the migration runs (${[...MID_STATES].join('|')})`,
    },
    {
      name: 'migration rolled back or completed',
      pass:
        run.finalState !== undefined && SETTLED.has(run.finalState) && run.owner === (run.finalState === 'rolled-back' ? run.from : run.to),
      measured: `${run.finalState ?? 'unknown'}; ${run.market} on ${run.owner ?? '?'} (cellctl migrate exit ${run.code ?? 'none'})`,
      threshold: `rolled-back on ${run.from}, or done on ${run.to}`,
    },
    {
      name: 'no acknowledged order lost',
      pass: acked.length > 0 && lost.length === 0,
      measured: `${acked.length - lost.length} of ${acked.length} acknowledged orders of ${run.market} read back from ${run.owner ?? '?'}${
        lost.length
          ? `; lost e.g. ${lost
              .slice(0, 3)
              .map((w) => `${w.id} (${w.readBack?.status ?? 'unread'} from ${w.readBack?.cell || 'no cell'})`)
              .join(', ')}`
          : ''
      }`,
      threshold: 'all',
    },
    {
      name: 'no order written by two cells',
      pass: acked.length > 0 && split.length === 0 && toAfterRollback === 0,
      measured: `acknowledged by ${JSON.stringify(byCell)}; ${split.length} by ${run.from} after ${run.to} took one${toAfterRollback ? `; ${toAfterRollback} by ${run.to} though rolled back` : ''}`,
      threshold: `${run.from} until the flip, ${run.to} after it, never both`,
    },
  ];
}

export const splitBrainMigration: Drill = {
  name: 'split-brain-migration',
  movesMarkets: true,
  description:
    "Start a market's migration and cut its source cell's host off mid-migration (cellctl up --hosts): the migration rolls back or completes, no acknowledged order is lost, and no two cells take the market's writes.",
  faultCells: (env, opts) => [defaultCell(env.cells(), opts)],
  expectations: () => ({ spillZero: true }),
  gates: spillGate,
  windowUntilHealed: true,
  sabotage: CELL_SABOTAGE.filter((s) => s !== 'routerOneCell'),
  preflight(env) {
    hostsOf(env);
    if (!env.migration) throw new Error('this topology does not expose migration records');
  },
  async inject(ctx) {
    const [source] = ctx.faultCells;
    const owned = Object.fromEntries(Object.entries(await movable(ctx.env, await ctx.env.owners())).filter(([, c]) => c === source));
    const [m] = planMoves(owned, ctx.env.cells(), ctx.env.canaryCell(), 1, ctx.env.marketWeights?.());
    if (!m) throw new Error(`no market of ${source} to move`);
    const run: SplitRun = { ...m, cut: targetCells(ctx), writes: [] };
    runs.set(ctx, run);
    const before = (await ctx.env.migration!(m.market))?.id;
    run.stopWriter = startWriter(run, ctx.env.targets(['router', 'envoy']), 100, ctx.env.fetch);
    ctx.mark(`migrate ${m.market} ${m.from} -> ${m.to}; writing ${m.market} 10/s through every replica`);
    run.migrate = ctx.env.cellctl(['migrate', m.market, '--to', m.to], 120_000).then((r) => {
      run.code = r.code;
      ctx.mark(`migrate ${m.market} exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? ''}`);
    });
    // Watch the record (the control plane host's agent, which no cut touches) for a step under way.
    let state: string | undefined;
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(20)) {
      const rec = await ctx.env.migration!(m.market).catch(() => undefined);
      if (rec && rec.id !== before) state = rec.state;
      if (state && (MID_STATES.has(state) || TERMINAL.has(state) || state === 'cleanup-wait')) break;
    }
    if (ctx.opts.faultNeverStarts) {
      ctx.mark(`sabotage (--fault-never-starts): ${run.cut.join(', ')} NOT cut (migration in state ${state ?? 'unknown'})`);
      return undefined;
    }
    for (const host of run.cut) await ctx.env.partitionHost!(host, true);
    run.cutState = state ?? 'unknown';
    ctx.mark(`${run.cut.join(', ')}: every link cut, migration in state ${run.cutState}`);
    return undefined;
  },
  async heal(ctx) {
    const run = runs.get(ctx);
    if (!run) return;
    if (run.cutState !== undefined) for (const host of run.cut) await ctx.env.partitionHost!(host, false);
    ctx.mark(`${run.cut.join(', ')}: links restored`);
    await run.migrate;
    for (const until = Date.now() + 90_000; Date.now() < until; await sleep(250)) {
      run.finalState = (await ctx.env.migration!(run.market).catch(() => undefined))?.state;
      if (run.finalState && (TERMINAL.has(run.finalState) || run.finalState === 'cleanup-wait')) break;
    }
    run.owner = (await ctx.env.owners())[run.market];
    // A second of writes on the settled owner, then every acknowledged order read back through a router.
    await sleep(1000);
    await run.stopWriter?.();
    const router = ctx.env.targets(['router'])[0]!;
    for (const w of run.writes) if (ok(w) && w.id) w.readBack = await readOrder(router.url, run.market, w.id, ctx.env.fetch);
    ctx.mark(`migration ${run.finalState ?? 'unknown'}, ${run.market} on ${run.owner ?? '?'}; ${run.writes.length} writes read back`);
  },
  verify: async (ctx) => splitVerdicts(runs.get(ctx)),
};
