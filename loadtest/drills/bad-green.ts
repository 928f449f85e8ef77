/**
 * The `bad-green-step` drill (docs/weighted-shifts.md §A bad green caught at 1 %): the defective version
 * is rolled out in weighted steps (1 %, 10 %, 50 %) under load. It must be caught at the 1 %
 * step, rolled back, its damage bounded to that share of the canary's requests, and no other
 * cell may be touched. The bake is sized from the rate so the 1 % step gets enough requests to
 * judge; a rollout still running past the 1 % step is aborted (the drill's question is answered).
 */
import type { RolloutRecord } from '../../shared/kv.js';
import type { CommandResult } from '../env/types.js';
import type { RequestPoint } from '../points.js';
import type { Verdict } from '../verdicts.js';
import type { DrillHooks } from './hooks.js';
import { ROLLOUT_OBSERVED } from './operations.js';
import type { Drill, DrillContext } from './types.js';

/** The rollout's weighted steps; the drill judges the first. */
export const STEPS = [1, 10, 50] as const;
/** The canary cell's share of the drill's traffic. */
export const CANARY_SHARE = 0.8;
/**
 * Requests the green should get during the 1 % step's bake (the verdict needs 20). The green sees
 * fewer than the rate gives (its bake starts once it passes its checks, and the router draws its
 * endpoint at random): sized for 25, runs saw 21 and, in a CI rehearsal, 16, an inconclusive 1 %
 * step. Sized for 40, the 1 % step's bake is 50 s at 100/s.
 */
export const MIN_GREEN = 40;
/**
 * The defective build: half of every /v1 request fails, so any 20 requests on it show the defect
 * (v2-bad's 20 % of creates, 7 % of the default mix, needs about 60 requests on green to be
 * caught 99 times in 100, six thousand canary requests at 1 %, more than this machine's cells
 * carried in a CI run).
 */
export const BROKEN_VERSION = 'v2-broken';
/** A good build, rolled out instead of the bad one by `--fault-never-starts`. */
/**
 * Mostly reads: the canary carries 80 % of the rate, and on this 2-core machine a cell answered
 * 120 reads/s in time but failed 60 % of its requests at 120/s of the default mix (35 % creates)
 * before any rollout started. The defect fails every route, so reads show it as well.
 */
export const BAD_GREEN_MIX = { create: 0.1, get: 0.75, list: 0.05, cancel: 0.1 };
const GOOD_VERSION = 'v2';
const MAX_BAKE_MS = 60_000;

/** The bake (ms) that gives the green {@link MIN_GREEN} requests at the first step, at `rate`/s. */
export function bakeFor(rate: number): number {
  return Math.max(10_000, Math.ceil(MIN_GREEN / ((STEPS[0] / 100) * rate * CANARY_SHARE)) * 1000);
}

interface State {
  version: string;
  /** cell → the versions its passing instances ran before the rollout. */
  before: Record<string, string[]>;
  abort?: Promise<CommandResult>;
  result?: CommandResult;
  record?: RolloutRecord;
  running?: Promise<void>;
  timer?: NodeJS.Timeout;
  polls: number;
  leaked: Set<string>;
  /** When the canary's catalog first and last listed a passing instance of the new version. */
  greenFrom?: number;
  greenTo?: number;
  aborted?: string;
}
const states = new WeakMap<DrillContext, State>();

/**
 * Damage of the step: the canary's failed requests started while its new version passed checks,
 * against the share the step gives it. Even if every request the green answered failed, the
 * failures stay within `percent` % of those requests, plus four binomial standard deviations
 * (the router draws its endpoint at random) and one request.
 */
export function damageVerdict(
  points: RequestPoint[],
  canary: string,
  from: number | undefined,
  to: number | undefined,
  percent: number,
): Verdict {
  const name = `damage bounded to the ${percent}% step`;
  if (from === undefined || to === undefined)
    return { name, pass: false, measured: 'no data (the new version never passed checks on the canary)', threshold: '-' };
  const mine = points.filter((p) => p.owner === canary && p.start >= from && p.start <= to);
  const all = points.filter((p) => p.start >= from && p.start <= to).length;
  const failed = mine.filter((p) => p.failed).length;
  const p = percent / 100;
  const bound = Math.floor(p * mine.length + 4 * Math.sqrt(mine.length * p * (1 - p)) + 1);
  const share = (n: number, of: number) => (of > 0 ? `${((100 * n) / of).toFixed(2)}%` : '-');
  // Shown, not judged: a canary already failing before the new version ran is an overloaded machine, not the step.
  const earlier = points.filter((q) => q.owner === canary && q.start < from);
  const earlierFailed = earlier.filter((q) => q.failed).length;
  return {
    name,
    pass: mine.length > 0 && failed <= bound,
    measured: mine.length
      ? `${failed} failed of ${mine.length} canary requests while the new version ran (${share(failed, mine.length)}; ${share(failed, all)} of all ${all}; before it: ${earlierFailed} of ${earlier.length} failed)`
      : 'no data (no canary request while the new version ran)',
    threshold: `<= ${bound} (${percent}% of the canary's requests + 4 sd + 1)`,
  };
}

/** The rollout record's verdicts: caught at the first step, rolled back, no other wave started. */
export function recordVerdicts(rec: RolloutRecord | undefined, canary: string, why = 'no rollout record'): Verdict[] {
  const wave = rec?.waves[0];
  const steps = wave?.steps ?? [];
  const last = steps[steps.length - 1];
  const stepsSeen = steps.map((s) => `${s.percent}%${s.verdict ? (s.verdict.pass ? ' ok' : ' BREACHED') : ''}`).join(', ') || 'none';
  const others = rec?.waves.slice(1).filter((w) => w.state !== 'pending' && w.state !== 'skipped') ?? [];
  return [
    {
      name: `caught at the ${STEPS[0]}% step`,
      pass: wave?.state === 'breached' && steps.length === 1 && last?.percent === STEPS[0] && last.verdict?.pass === false,
      measured: rec
        ? `wave 0 [${wave?.cells.join(', ') ?? ''}] ${wave?.state ?? '?'} after ${stepsSeen}${last?.verdict ? `: ${last.verdict.reason} (${last.verdict.requests} requests)` : ''}`.slice(
            0,
            240,
          )
        : why,
      threshold: `breached at ${STEPS[0]}%, no later step`,
    },
    {
      name: 'rollout rolled back',
      pass: rec?.state === 'rolled-back',
      measured: rec ? `${rec.state}${rec.report ? `: ${rec.report}` : ''}`.slice(0, 240) : why,
      threshold: 'rolled-back',
    },
    {
      name: `no wave after ${canary} started`,
      pass: rec !== undefined && others.length === 0,
      measured: rec
        ? others.length
          ? others.map((w) => `[${w.cells.join(', ')}] ${w.state}`).join('; ')
          : 'every later wave pending or skipped'
        : why,
      threshold: 'every later wave pending or skipped',
    },
  ];
}

function parseRecord(r: CommandResult | undefined): RolloutRecord | undefined {
  try {
    return r?.stdout.trim() ? (JSON.parse(r.stdout) as RolloutRecord) : undefined;
  } catch {
    return undefined;
  }
}

export const badGreenStep: Drill & DrillHooks = {
  name: 'bad-green-step',
  description: `Roll ${BROKEN_VERSION} out to the canary in weighted steps ${STEPS.join(', ')}% under load: it must be caught at ${STEPS[0]}%, rolled back, its damage bounded to that share, no other cell touched.`,
  faultCells: (env) => [env.canaryCell()],
  minShare: (env) => ({ cell: env.canaryCell(), share: CANARY_SHARE }),
  phases: { before: 0.2, window: 0.6 },
  expectations: () => ({ faultObserved: ROLLOUT_OBSERVED, spillZero: true }),
  gates: () => [{ scope: 'other', maxShare: 0 }],
  windowUntilHealed: true,
  sabotage: ['faultNeverStarts'],
  preflight(_env, opts) {
    // The drill's own mix unless --mix was given (the engine builds the traffic from these options).
    opts.mix ??= BAD_GREEN_MIX;
    if (bakeFor(opts.rate) > MAX_BAKE_MS)
      throw new Error(
        `bad-green-step needs --rate >= ${Math.ceil(MIN_GREEN / ((STEPS[0] / 100) * CANARY_SHARE * (MAX_BAKE_MS / 1000)))} (the ${STEPS[0]}% step's bake would exceed ${MAX_BAKE_MS / 1000} s)`,
      );
  },
  async inject(ctx) {
    const canary = ctx.env.canaryCell();
    const version = ctx.opts.faultNeverStarts ? GOOD_VERSION : BROKEN_VERSION;
    const bakeMs = bakeFor(ctx.opts.rate);
    const state: State = { version, polls: 0, leaked: new Set(), before: await ctx.env.cellVersions() };
    states.set(ctx, state);
    const abortAt = () => (state.greenFrom !== undefined ? state.greenFrom + bakeMs + 5000 : Infinity);
    state.timer = setInterval(() => {
      void ctx.env
        .cellVersions()
        .then((v) => {
          state.polls++;
          for (const [cell, versions] of Object.entries(v)) {
            if (!versions.includes(version)) continue;
            if (cell !== canary && !(state.before[cell] ?? []).includes(version)) state.leaked.add(cell);
            if (cell === canary) {
              state.greenFrom ??= Date.now();
              state.greenTo = Date.now();
            }
          }
          if (!state.result && !state.aborted && Date.now() > abortAt()) {
            state.aborted = `still running ${Math.round((Date.now() - (state.greenFrom ?? 0)) / 1000)} s after the new version passed checks: past the ${STEPS[0]}% step, aborted`;
            ctx.mark(`rollout ${state.aborted}`);
            state.abort = ctx.env.cellctl(['rollout', '--abort', '--json'], 60_000);
          }
        })
        .catch(() => undefined);
    }, 250);
    if (ctx.opts.faultNeverStarts)
      ctx.mark(`sabotage (--fault-never-starts): the good build ${GOOD_VERSION} rolled out instead of ${BROKEN_VERSION}`);
    const args = ['rollout', version, '--steps', STEPS.join(','), '--bake', `${bakeMs / 1000}s`, '--json'];
    ctx.mark(`cellctl ${args.join(' ')}`);
    state.running = ctx.env.cellctl(args, 300_000).then((r) => {
      state.result = r;
      state.record = parseRecord(r);
      ctx.mark(`rollout ${version} ended, exit ${r.code}, ${state.record?.state ?? 'no record'}`);
    });
    return undefined;
  },
  async heal(ctx) {
    const state = states.get(ctx);
    await state?.running;
    await state?.abort;
    // One more look at the catalog: the rollback stops the new instances.
    await new Promise((r) => setTimeout(r, 500));
    if (state?.timer) clearInterval(state.timer);
  },
  async verify(ctx) {
    const state = states.get(ctx);
    const canary = ctx.env.canaryCell();
    const versions: Record<string, string[]> = await ctx.env.cellVersions().catch(() => ({}));
    const now = versions[canary] ?? [];
    const before = state?.before[canary] ?? [];
    const stillThere = state !== undefined && !before.includes(state.version) && now.includes(state.version);
    return [
      ...recordVerdicts(
        state?.record,
        canary,
        `no rollout record: ${(state?.result?.stderr ?? '').trim().split('\n').pop() || 'the rollout never ran'}`.slice(0, 240),
      ),
      {
        name: `${state?.version ?? BROKEN_VERSION} stopped on ${canary}`,
        pass: state?.greenFrom !== undefined && !stillThere,
        measured:
          state?.greenFrom === undefined ? 'never seen passing on the canary' : `${canary} now runs ${now.join(', ') || 'nothing passing'}`,
        threshold: `${canary} back on ${before.join(', ') || 'its old version'}`,
      },
      {
        name: `${state?.version ?? BROKEN_VERSION} never ran outside ${canary}`,
        pass: state !== undefined && state.polls > 0 && state.leaked.size === 0,
        measured: state?.leaked.size ? `seen on ${[...state.leaked].join(', ')}` : `not seen (${state?.polls ?? 0} polls of the catalog)`,
        threshold: 'never',
      },
    ];
  },
  async afterTraffic(ctx, run) {
    const state = states.get(ctx);
    return { verdicts: [damageVerdict(run.requests, ctx.env.canaryCell(), state?.greenFrom, state?.greenTo, STEPS[0])] };
  },
};
