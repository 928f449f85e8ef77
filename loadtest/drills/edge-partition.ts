/**
 * `edge-consul-partition` (docs/drills.md §Network drills): an edge host (a router and an Envoy)
 * loses its paths to the Consul servers and to the control plane, so neither its router (through
 * the host's own Consul agent) nor its Envoy (xDS) hears of anything, while its paths to the cells
 * and to the client stay. A market is moved meanwhile. Both must keep routing on what they knew,
 * and apply the move within 5 s of the paths coming back. The drill's own probes through the cut
 * replicas tell which cell answers the moved market: the old owner until the heal (the positive
 * control), the new one soon after (the catch-up time).
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

/** The catch-up target after the paths come back (issue 16). */
export const CATCH_UP_MS = 5000;
/** How long the heal waits for the cut replicas to apply the move. */
const CATCH_UP_BOUND_MS = 15_000;
/**
 * The least time the edge stays cut after the move's flip, so that the probes through it can show
 * the move unseen (the positive control). Under load the migration can outlast the fault window,
 * and the heal then came right after the flip with no probe between them.
 */
export const CUT_AFTER_MOVE_MS = 2000;

/** What one run saw. */
export interface EdgeRun {
  edge: string;
  cutFrom: string[];
  replicas: Target[];
  move?: { market: string; from: string; to: string; code: number; detail: string };
  /** When the move's flip was known written (cellctl migrate exited 0), and when the restore of the paths began. */
  movedAt?: number;
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

/** Per cut replica: ms from the heal to its first answer from the new owner (undefined: none). */
export function catchUp(run: EdgeRun): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const r of run.replicas) {
    const first = run.probes.find(
      (p) => p.replica === r.replica && run.healedAt !== undefined && p.start >= run.healedAt && ok(p) && p.cell === run.move?.to,
    );
    out[r.replica] = first && run.healedAt !== undefined ? first.end - run.healedAt : undefined;
  }
  return out;
}

/** The drill's own verdicts: the positive control (the move unseen while cut), the move, the catch-up. */
export function edgeVerdicts(run: EdgeRun | undefined): Verdict[] {
  if (!run?.move) return [{ name: 'market moved during the partition', pass: false, measured: 'no move tried', threshold: 'exit 0' }];
  const m = run.move;
  const out: Verdict[] = [
    {
      name: 'market moved during the partition',
      pass: m.code === 0,
      measured: `migrate ${m.market} ${m.from} -> ${m.to}: exit ${m.code}${m.code ? ` (${m.detail})` : ''}`,
      threshold: 'exit 0',
    },
  ];
  const times = catchUp(run);
  for (const r of run.replicas) {
    const cut = run.probes.filter(
      (p) => p.replica === r.replica && run.movedAt !== undefined && p.start >= run.movedAt && p.end < (run.healedAt ?? 0) && ok(p),
    );
    const stale = cut.filter((p) => p.cell === m.from).length;
    out.push({
      name: `move unseen while cut off (${r.replica})`,
      pass: cut.length > 0 && stale === cut.length,
      measured: cut.length ? `${stale} of ${cut.length} answers after the flip from ${m.from}` : 'no answer between the flip and the heal',
      threshold: `every answer from ${m.from} (the old owner)`,
    });
    const t = times[r.replica];
    out.push({
      name: `move applied after the paths came back (${r.replica})`,
      pass: t !== undefined && t <= CATCH_UP_MS,
      measured: t === undefined ? `never (within ${CATCH_UP_BOUND_MS / 1000} s)` : `${t} ms`,
      threshold: `<= ${CATCH_UP_MS} ms`,
    });
  }
  return out;
}

/**
 * Every failed request but the stale answers a cut edge cannot help giving: the moved market's
 * requests through the cut replicas that its old owner answered, frozen since the move, with
 * `409 market_frozen` (a write: the freeze is what keeps a stale edge's writes off a cell that no
 * longer owns the market) or `404 not_found` (a read of an order written on the new owner since).
 * Those are counted apart by code, never hidden.
 */
export function failedVerdict(run: EdgeRun | undefined, requests: RequestPoint[]): Verdict {
  const cut = new Set(run?.replicas.map((r) => r.replica));
  const stale = (p: RequestPoint) =>
    p.failed &&
    p.market === run?.move?.market &&
    cut.has(p.replica) &&
    p.cell === run.move.from &&
    (p.code === 'market_frozen' || p.code === 'not_found');
  const count = (xs: RequestPoint[]) => {
    const by: Record<string, number> = {};
    for (const p of xs) by[p.code] = (by[p.code] ?? 0) + 1;
    return JSON.stringify(by);
  };
  const failed = requests.filter((p) => p.failed && !stale(p));
  const apart = requests.filter(stale);
  return {
    name: 'failed requests (the moved market’s stale answers through the cut edge aside)',
    pass: requests.length > 0 && failed.length === 0,
    measured: `${failed.length}${failed.length ? ` ${count(failed)}` : ''}; apart: ${apart.length} answers of ${run?.move?.market ?? '?'} from ${run?.move?.from ?? '?'} through ${[...cut].join(', ')}${apart.length ? ` ${count(apart)}` : ''}`,
    threshold: '0',
  };
}

export const edgeConsulPartition: Drill & DrillHooks = {
  name: 'edge-consul-partition',
  description:
    'Cut an edge host (a router and an Envoy; cellctl up --hosts) off from the Consul servers and the control plane, not from the cells or the client, and move a market meanwhile: both keep routing with no failed request, and apply the move within 5 s of the paths coming back.',
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
      if (r.code === 0) run.movedAt = Date.now();
      ctx.mark(`migrate ${m.market} exit ${r.code}`);
    } catch (err) {
      ctx.mark(`no market move: ${(err as Error).message}`);
    }
    return undefined;
  },
  async heal(ctx) {
    const run = runs.get(ctx);
    if (!run) return;
    if (run.movedAt !== undefined) await sleep(run.movedAt + CUT_AFTER_MOVE_MS - Date.now());
    // Taken before the restore: an answer during it may already come after the paths are back,
    // so the positive control ends here, and the catch-up counts the restore's own time too.
    run.healedAt = Date.now();
    if (!ctx.opts.faultNeverStarts) await ctx.env.partitionHost!(run.edge, false);
    ctx.mark(`${run.edge}: paths restored (${Date.now() - run.healedAt} ms)`);
    // The window lasts until both replicas apply the move (or the bound): stale answers stay inside it.
    for (const until = run.healedAt + CATCH_UP_BOUND_MS; Date.now() < until; await sleep(100)) {
      if (!run.move || Object.values(catchUp(run)).every((t) => t !== undefined)) break;
    }
    await run.stop?.();
    ctx.mark(`caught up: ${JSON.stringify(catchUp(run))}`);
  },
  verify: async (ctx) => edgeVerdicts(runs.get(ctx)),
  afterTraffic: async (ctx, t) => ({ verdicts: [failedVerdict(runs.get(ctx), t.requests)] }),
};
