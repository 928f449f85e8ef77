/**
 * Operator drills under load: several markets migrated during the run (no request may fail, and
 * the moved markets must be seen answered by their new owner), and a rollout of a defective
 * version (it must stop at the canary cell and roll back; the defect must never reach another
 * cell's markets).
 */
import type { CommandResult } from '../env/types.js';
import type { FaultObserved, Verdict } from '../verdicts.js';
import type { Drill, DrillContext } from './types.js';

/** The defective version `cellctl up` declares for drills (issue 6). */
export const BAD_VERSION = 'v2-bad';

interface MigrationState {
  moves: { market: string; from: string; to: string }[];
  results: CommandResult[];
  running?: Promise<void>;
}
const migrations = new WeakMap<DrillContext, MigrationState>();

/**
 * Picks `n` markets of different non-canary cells (the busiest first, when weights are known,
 * so the moves happen under real traffic) and a destination for each.
 */
export function planMoves(
  owners: Record<string, string>,
  cells: string[],
  canary: string,
  n: number,
  weights: Record<string, number> = {},
): MigrationState['moves'] {
  const targets = cells.filter((c) => c !== canary);
  const moves: MigrationState['moves'] = [];
  const markets = Object.keys(owners).sort((a, b) => (weights[b] ?? 0) - (weights[a] ?? 0) || a.localeCompare(b));
  for (const market of markets) {
    const from = owners[market];
    if (!from || from === canary || moves.length >= n) continue;
    if (moves.some((m) => m.from === from) && moves.length < targets.length) continue;
    const to = targets[(targets.indexOf(from) + 1) % targets.length];
    if (to && to !== from) moves.push({ market, from, to });
  }
  return moves;
}

const migration: Drill = {
  name: 'migration-under-load',
  movesMarkets: true,
  description: 'Migrate several markets between cells while traffic flows: no request may fail.',
  faultCells: () => [],
  // The positive control: the moved markets' owner changed in Consul and their new owner answered them.
  expectations: () => ({ movesObserved: true, zeroFailed: true, spillZero: true }),
  gates: () => [{ scope: 'all', maxShare: 0 }],
  windowUntilHealed: true,
  sabotage: ['faultNeverStarts'],
  async inject(ctx) {
    const moves = planMoves(await ctx.env.owners(), ctx.env.cells(), ctx.env.canaryCell(), 3, ctx.env.marketWeights?.());
    const state: MigrationState = { moves, results: [] };
    migrations.set(ctx, state);
    if (ctx.opts.faultNeverStarts) {
      for (const m of moves) ctx.mark(`sabotage (--fault-never-starts): ${m.market} NOT migrated (${m.from} -> ${m.to})`);
      return undefined;
    }
    state.running = (async () => {
      for (const m of moves) {
        ctx.mark(`migrate ${m.market} ${m.from} -> ${m.to}`);
        const r = await ctx.env.cellctl(['migrate', m.market, '--to', m.to], 60_000);
        state.results.push(r);
        ctx.mark(`migrate ${m.market} exit ${r.code}`);
      }
    })();
    return undefined;
  },
  async heal(ctx) {
    await migrations.get(ctx)?.running;
  },
  async verify(ctx) {
    const state = migrations.get(ctx);
    if (!state) return [{ name: 'migrations ran', pass: false, measured: 'no migration started', threshold: '3 moves' }];
    const owners = await ctx.env.owners();
    return state.moves.map((m, i): Verdict => {
      const r = state.results[i];
      const ok = r?.code === 0 && owners[m.market] === m.to;
      return {
        name: `migrate ${m.market} ${m.from} -> ${m.to}`,
        pass: ok,
        measured: `exit ${r?.code ?? 'not run'}, now on ${owners[m.market] ?? '?'}${r && r.code !== 0 ? `: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}` : ''}`,
        threshold: `exit 0, owned by ${m.to}`,
      };
    });
  },
};

interface RolloutState {
  result?: CommandResult;
  running?: Promise<void>;
  /** Cells other than the canary seen running the bad version. */
  leaked: Set<string>;
  timer?: NodeJS.Timeout;
  polls: number;
}
const rollouts = new WeakMap<DrillContext, RolloutState>();

/**
 * Positive control of the bad rollout: the canary's markets saw failures in the window. The
 * rollout stops itself one SLO check after the first failures (more than 2% errors over at least
 * 20 requests), so its defect shows in a handful of answers that land on either plane by round
 * robin: judged over all planes together, at least one failure (the canary fails none before).
 */
export const ROLLOUT_OBSERVED: FaultObserved = { minFailed: 1, pooled: true };

const badRollout: Drill = {
  name: 'bad-rollout',
  description: `Roll out the defective version ${BAD_VERSION} under load: it must stop at the canary cell and roll back; no other cell may ever run it.`,
  faultCells: (env) => [env.canaryCell()],
  // The canary's markets are small; the rollout's SLO check needs requests to judge the bake.
  minShare: (env) => ({ cell: env.canaryCell(), share: 0.25 }),
  expectations: () => ({ faultObserved: ROLLOUT_OBSERVED, spillZero: true, blastWithinPoints: 2 }),
  gates: () => [{ scope: 'other', maxShare: 0 }],
  windowUntilHealed: true,
  sabotage: ['faultNeverStarts'],
  async inject(ctx) {
    const state: RolloutState = { leaked: new Set(), polls: 0 };
    rollouts.set(ctx, state);
    const canary = ctx.env.canaryCell();
    state.timer = setInterval(() => {
      void ctx.env
        .cellVersions()
        .then((v) => {
          state.polls++;
          for (const [cell, versions] of Object.entries(v)) if (cell !== canary && versions.includes(BAD_VERSION)) state.leaked.add(cell);
        })
        .catch(() => undefined);
    }, 250);
    if (ctx.opts.faultNeverStarts) {
      ctx.mark(`sabotage (--fault-never-starts): rollout ${BAD_VERSION} NOT started`);
      return undefined;
    }
    ctx.mark(`rollout ${BAD_VERSION} started`);
    // Bake about as long as the planned window: enough canary requests to judge at the drill's rate.
    const bake = `${Math.max(10, Math.round(ctx.windowMs / 1000))}s`;
    state.running = ctx.env.cellctl(['rollout', BAD_VERSION, '--bake', bake], 180_000).then((r) => {
      state.result = r;
      ctx.mark(`rollout ${BAD_VERSION} ended, exit ${r.code}`);
    });
    return undefined;
  },
  async heal(ctx) {
    const state = rollouts.get(ctx);
    await state?.running;
    if (state?.timer) clearInterval(state.timer);
  },
  async verify(ctx) {
    const state = rollouts.get(ctx);
    const out = (state?.result?.stdout ?? '') + (state?.result?.stderr ?? '');
    return [
      {
        name: `${BAD_VERSION} never ran outside ${ctx.env.canaryCell()}`,
        pass: state !== undefined && state.polls > 0 && state.leaked.size === 0,
        measured: state?.leaked.size ? `seen on ${[...state.leaked].join(', ')}` : `not seen (${state?.polls ?? 0} polls of the catalog)`,
        threshold: 'never',
      },
      {
        name: 'rollout stopped and rolled back',
        pass: state?.result !== undefined && state.result.code !== 0 && /roll(ed)?[ -]?back/i.test(out),
        measured: `exit ${state?.result?.code ?? 'none'}: ${out.trim().split('\n').slice(-1)[0] ?? ''}`.slice(0, 200),
        threshold: 'non-zero exit, rolled back',
      },
    ];
  },
};

/** Migration and rollout drills. */
export const OPERATION_DRILLS: Drill[] = [migration, badRollout];
