/**
 * `edge-consul-partition` (docs/drills.md §Network drills): an edge host (a router and an Envoy)
 * loses its paths to the Consul servers and to the control plane, so neither its router (through
 * the host's own Consul agent) nor its Envoy (xDS) hears of anything, while its paths to the cells
 * and to the client stay. A market is moved meanwhile: the move's freeze barrier cannot hear from
 * the cut router and Envoy, so the move rolls back before the source cell freezes (its error names
 * the cut router), and both keep routing on what they knew with no request failed. Once the paths
 * are back the market is moved again, and the cut replicas must apply that move within 5 s of its
 * flip. The drill's own probes through the cut replicas tell which cell answers the market.
 */
import type { RequestPoint } from '../points.js';
import type { Verdict } from '../verdicts.js';
import type { Target } from '../plan.js';
import type { DrillHooks } from './hooks.js';
import { hostsOf } from './network.js';
import { planMoves } from './operations.js';
import { ok, whoServes, type PlaneAnswer, type PlaneFetch } from './plane-probe.js';
import { movable } from './split-brain.js';
import type { Drill, DrillContext } from './types.js';

/** The catch-up target: a cut replica applies the move made after the paths came back within this of its flip (issue 16). */
export const CATCH_UP_MS = 5000;
/** How long the heal waits for the cut replicas to apply the move. */
const CATCH_UP_BOUND_MS = 15_000;
/**
 * The least time the edge stays cut after the refused move, so that the probes through it show
 * the market still served by its owner after the rollback.
 */
export const CUT_AFTER_MOVE_MS = 2000;
/** How long the heal tries the move again (an Envoy dials xDS again within about 4 s of the heal). */
const RETRY_BOUND_MS = 30_000;

/** A `cellctl migrate` of the drill. */
export interface Move {
  market: string;
  from: string;
  to: string;
  code: number;
  detail: string;
}

/** What one run saw. */
export interface EdgeRun {
  edge: string;
  cutFrom: string[];
  replicas: Target[];
  /** The move tried while the edge was cut off (expected: rolled back before the freeze). */
  move?: Move;
  /** When that move ended. */
  triedAt?: number;
  /** The move made after the paths came back, and when its flip was known written (it exited 0). */
  retry?: Move;
  movedAt?: number;
  /** When the restore of the paths began. */
  healedAt?: number;
  probes: (PlaneAnswer & { replica: string })[];
  stop?: () => Promise<void>;
}
const runs = new WeakMap<DrillContext, EdgeRun>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Asks every cut replica which cell serves `market`, every `everyMs`, until stopped. */
function startProbes(run: EdgeRun, market: string, everyMs: number, get?: PlaneFetch): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const round = run.replicas.map(async (r) => run.probes.push({ ...(await whoServes(r.url, market, get)), replica: r.replica }));
      await Promise.all([...round, sleep(everyMs)]);
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

/** Per cut replica: ms from the later move's flip to its first answer from the new owner (undefined: none). */
export function catchUp(run: EdgeRun): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const r of run.replicas) {
    const first = run.probes.find(
      (p) => p.replica === r.replica && run.movedAt !== undefined && p.start >= run.movedAt && ok(p) && p.cell === run.move?.to,
    );
    out[r.replica] = first && run.movedAt !== undefined ? first.end - run.movedAt : undefined;
  }
  return out;
}

/** The drill's own verdicts: the move refused while cut (the positive control), the owner served meanwhile, the later move and its catch-up. */
export function edgeVerdicts(run: EdgeRun | undefined): Verdict[] {
  const refused = 'move refused while the edge is cut off';
  if (!run?.move) return [{ name: refused, pass: false, measured: 'no move tried', threshold: 'rolled back before the freeze' }];
  const m = run.move;
  const routers = run.replicas.filter((r) => r.plane === 'router').map((r) => r.replica);
  const out: Verdict[] = [
    {
      name: refused,
      pass: m.code !== 0 && /freeze not confirmed/.test(m.detail) && routers.every((r) => m.detail.includes(`router ${r}`)),
      measured: `migrate ${m.market} ${m.from} -> ${m.to}: exit ${m.code}${m.detail ? ` (${m.detail})` : ''}`,
      threshold: `rolled back before the freeze, naming ${routers.map((r) => `router ${r}`).join(', ')}`,
    },
  ];
  const times = catchUp(run);
  for (const r of run.replicas) {
    const cut = run.probes.filter(
      (p) => p.replica === r.replica && run.triedAt !== undefined && p.start >= run.triedAt && p.end < (run.healedAt ?? 0) && ok(p),
    );
    const owner = cut.filter((p) => p.cell === m.from).length;
    out.push({
      name: `owner kept serving while cut off (${r.replica})`,
      pass: cut.length > 0 && owner === cut.length,
      measured: cut.length
        ? `${owner} of ${cut.length} answers after the refused move from ${m.from}`
        : 'no answer between the refused move and the heal',
      threshold: `every answer from ${m.from} (the owner)`,
    });
  }
  const later = run.retry;
  out.push({
    name: 'market moved after the paths came back',
    pass: later?.code === 0,
    measured: later
      ? `migrate ${later.market} ${later.from} -> ${later.to}: exit ${later.code}${later.code ? ` (${later.detail})` : ''}`
      : 'not tried',
    threshold: 'exit 0',
  });
  for (const r of run.replicas) {
    const t = times[r.replica];
    out.push({
      name: `move applied after the paths came back (${r.replica})`,
      pass: t !== undefined && t <= CATCH_UP_MS,
      measured: t === undefined ? `never (within ${CATCH_UP_BOUND_MS / 1000} s)` : `${t} ms after its flip`,
      threshold: `<= ${CATCH_UP_MS} ms`,
    });
  }
  return out;
}

/**
 * Every failed request: the refused move rolled back before the source froze (so no stale write
 * is refused there), and the later move waited for every plane, so none is set apart.
 */
export function failedVerdict(run: EdgeRun | undefined, requests: RequestPoint[]): Verdict {
  const count = (xs: RequestPoint[]) => {
    const by: Record<string, number> = {};
    for (const p of xs) by[p.code] = (by[p.code] ?? 0) + 1;
    return JSON.stringify(by);
  };
  const failed = requests.filter((p) => p.failed);
  const cut = run?.replicas.map((r) => r.replica).join(', ') ?? '?';
  return {
    name: 'failed requests',
    pass: requests.length > 0 && failed.length === 0,
    measured: `${failed.length}${failed.length ? ` ${count(failed)}` : ''} (the cut replicas: ${cut})`,
    threshold: '0',
  };
}

export const edgeConsulPartition: Drill & DrillHooks = {
  name: 'edge-consul-partition',
  movesMarkets: true,
  description:
    'Cut an edge host (a router and an Envoy; cellctl up --hosts) off from the Consul servers and the control plane, not from the cells or the client, and move a market meanwhile: the move rolls back before the freeze (the cut router cannot confirm it), both keep routing with no failed request, and a move after the paths came back succeeds and is applied by both within 5 s of its flip.',
  faultCells: () => [],
  expectations: () => ({}),
  gates: () => [],
  windowUntilHealed: true,
  sabotage: ['faultNeverStarts', 'faultEveryCell'],
  preflight(env) {
    if (!hostsOf(env).edges.length) throw new Error('this topology has no edge host');
  },
  async inject(ctx) {
    const h = hostsOf(ctx.env);
    const edge = h.edges[0]!;
    const cutFrom = [...h.consulServers.map((s) => s.host), h.controlPlaneHost];
    // Sabotage: the cells' paths go too, so the edge cannot route at all.
    if (ctx.opts.faultEveryCell) cutFrom.push(...Object.keys(h.cellNamespaces));
    const replicas = ctx.env.targets(['router', 'envoy']).filter((t) => edge.children.includes(t.replica));
    const run: EdgeRun = { edge: edge.host, cutFrom, replicas, probes: [] };
    runs.set(ctx, run);
    if (ctx.opts.faultNeverStarts) ctx.mark(`sabotage (--fault-never-starts): ${edge.host} NOT cut off`);
    else {
      await ctx.env.partitionHost!(edge.host, true, cutFrom);
      ctx.mark(`${edge.host} (${replicas.map((r) => r.replica).join(', ')}) cut off from ${cutFrom.join(', ')}`);
    }
    // Never throws from here on: the heal must restore the paths.
    try {
      const [m] = planMoves(
        await movable(ctx.env, await ctx.env.owners()),
        ctx.env.cells(),
        ctx.env.canaryCell(),
        1,
        ctx.env.marketWeights?.(),
      );
      if (!m) throw new Error('no market to move');
      run.stop = startProbes(run, m.market, 100, ctx.env.fetch);
      ctx.mark(`migrate ${m.market} ${m.from} -> ${m.to}`);
      const r = await ctx.env.cellctl(['migrate', m.market, '--to', m.to], 60_000);
      run.move = { ...m, code: r.code, detail: (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? '' };
      run.triedAt = Date.now();
      ctx.mark(`migrate ${m.market} exit ${r.code}${r.code ? `: ${run.move.detail}` : ''}`);
    } catch (err) {
      ctx.mark(`no market move: ${(err as Error).message}`);
    }
    return undefined;
  },
  async heal(ctx) {
    const run = runs.get(ctx);
    if (!run) return;
    if (run.triedAt !== undefined) await sleep(run.triedAt + CUT_AFTER_MOVE_MS - Date.now());
    // Taken before the restore: an answer during it may already come after the paths are back.
    run.healedAt = Date.now();
    if (!ctx.opts.faultNeverStarts) await ctx.env.partitionHost!(run.edge, false);
    ctx.mark(`${run.edge}: paths restored (${Date.now() - run.healedAt} ms)`);
    const m = run.move;
    // The move again, now that every plane can confirm it: tried until it succeeds (a refused one
    // rolls back after the barrier's attempts while the cut Envoy dials xDS again) or the bound passes.
    if (m && m.code !== 0) {
      for (const until = Date.now() + RETRY_BOUND_MS; Date.now() < until; await sleep(1000)) {
        const r = await ctx.env.cellctl(['migrate', m.market, '--to', m.to], 60_000).catch((err: Error) => ({
          code: -1,
          stdout: '',
          stderr: err.message,
        }));
        run.retry = { ...m, code: r.code, detail: (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? '' };
        ctx.mark(`migrate ${m.market} again: exit ${r.code}${r.code ? `: ${run.retry.detail}` : ''}`);
        if (r.code === 0) {
          run.movedAt = Date.now();
          break;
        }
      }
    }
    // The window lasts until both replicas apply the later move (or the bound).
    for (const until = Date.now() + CATCH_UP_BOUND_MS; Date.now() < until; await sleep(100)) {
      if (run.movedAt === undefined || Object.values(catchUp(run)).every((t) => t !== undefined)) break;
    }
    await run.stop?.();
    ctx.mark(`caught up: ${JSON.stringify(catchUp(run))}`);
  },
  verify: async (ctx) => edgeVerdicts(runs.get(ctx)),
  afterTraffic: async (ctx, t) => ({ verdicts: [failedVerdict(runs.get(ctx), t.requests)] }),
};
