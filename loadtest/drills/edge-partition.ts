/**
 * `edge-consul-partition` (docs/drills.md §Network drills): an edge host (a router and an Envoy)
 * loses its paths to the Consul servers and to the control plane, so neither its router (through
 * the host's own Consul agent) nor its Envoy (xDS) hears of anything, while its paths to the cells
 * and to the client stay. A market is moved meanwhile: before its freeze the migration waits for
 * every data plane to be reachable (docs/operators.md §Waiting for the data planes), so it waits on
 * the cut router, the market active on its source and the source not frozen, and both cut replicas
 * keep routing it there with no request failed. Once the paths are back the move goes on, and the
 * cut replicas must apply it within 5 s of the restore. The drill's own probes through the cut
 * replicas tell which cell answers the market.
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

/** The catch-up target: a cut replica applies the move made during the cut within this of the paths' restore (issue 16). */
export const CATCH_UP_MS = 5000;
/** How long the heal waits for the move to end and the cut replicas to apply it. */
const CATCH_UP_BOUND_MS = 15_000;
/**
 * The least time the edge stays cut after the move was seen waiting, so that the probes through
 * it show the market still served by its owner while the move waits.
 */
export const CUT_AFTER_MOVE_MS = 2000;
/** How long the drill looks for the move's wait in its record (validation, copy and drain come first). */
const WAIT_SEEN_BOUND_MS = 30_000;
/** The migration's history note of its wait for an unreachable plane (control-plane/migration/machine.ts). */
const WAITING = /^waiting up to \d+ ms for (.*) to be reachable before the freeze/;

/** A `cellctl migrate` of the drill. */
export interface Move {
  market: string;
  from: string;
  to: string;
  /** Its exit (undefined while it runs) and last line. */
  code?: number;
  detail: string;
}

/** What one run saw. */
export interface EdgeRun {
  edge: string;
  cutFrom: string[];
  replicas: Target[];
  /** The move made while the edge is cut off (expected: it waits, then completes after the heal). */
  move?: Move;
  /** When the move was started. */
  movedFrom?: number;
  /** Its record's wait for an unreachable plane, as first seen (the note), and when. */
  waitNote?: string;
  waitSeenAt?: number;
  /** The record's state when the restore began. */
  stateAtHeal?: string;
  /** When the move exited (its flip is written by then when it exits 0). */
  endedAt?: number;
  /** When the restore of the paths began. */
  healedAt?: number;
  probes: (PlaneAnswer & { replica: string })[];
  pending?: Promise<void>;
  stop?: () => Promise<void>;
}
const runs = new WeakMap<DrillContext, EdgeRun>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

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

/** Per cut replica: ms from the restore's start to its first answer from the new owner (undefined: none). */
export function catchUp(run: EdgeRun): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  const healed = run.healedAt;
  for (const r of run.replicas) {
    const first = run.probes.find(
      (p) => p.replica === r.replica && healed !== undefined && p.start >= healed && ok(p) && p.cell === run.move?.to,
    );
    out[r.replica] = first && healed !== undefined ? first.end - healed : undefined;
  }
  return out;
}

/**
 * The drill's own verdicts: the move waiting while cut (the positive control), the owner served
 * meanwhile, the move completed after the heal and applied by each cut replica within 5 s of it.
 */
export function edgeVerdicts(run: EdgeRun | undefined): Verdict[] {
  const waited = 'move waited while the edge is cut off';
  if (!run?.move) return [{ name: waited, pass: false, measured: 'no move tried', threshold: 'waiting before the freeze at the heal' }];
  const m = run.move;
  const routers = run.replicas.filter((r) => r.plane === 'router').map((r) => r.replica);
  const names = run.waitNote?.match(WAITING)?.[1] ?? '';
  const out: Verdict[] = [
    {
      name: waited,
      pass: run.stateAtHeal === 'freezing' && routers.every((r) => names.includes(`router ${r}`)),
      measured: run.waitNote
        ? `state ${run.stateAtHeal ?? '?'} at the heal; ${run.waitNote}`
        : `state ${run.stateAtHeal ?? '?'} at the heal; no wait in its record${m.code !== undefined ? ` (migrate exit ${m.code} before the heal)` : ''}`,
      threshold: `freezing at the heal, waiting for ${routers.map((r) => `router ${r}`).join(', ')}, ${m.from} not frozen`,
    },
  ];
  for (const r of run.replicas) {
    const cut = run.probes.filter(
      (p) => p.replica === r.replica && run.movedFrom !== undefined && p.start >= run.movedFrom && p.end < (run.healedAt ?? 0) && ok(p),
    );
    const owner = cut.filter((p) => p.cell === m.from).length;
    out.push({
      name: `owner kept serving while cut off (${r.replica})`,
      pass: cut.length > 0 && owner === cut.length,
      measured: cut.length
        ? `${owner} of ${cut.length} answers from ${m.from} while the move waited`
        : 'no answer between the move and the heal',
      threshold: `every answer from ${m.from} (the owner)`,
    });
  }
  out.push({
    name: 'move made while cut off applied after the paths came back',
    pass: m.code === 0 && run.endedAt !== undefined && run.healedAt !== undefined && run.endedAt >= run.healedAt,
    measured:
      m.code === undefined
        ? `migrate ${m.market} ${m.from} -> ${m.to}: not ended`
        : `migrate ${m.market} ${m.from} -> ${m.to}: exit ${m.code}${m.code ? ` (${m.detail})` : ''}, ended ${
            run.endedAt !== undefined && run.healedAt !== undefined ? `${run.endedAt - run.healedAt} ms after the restore began` : '?'
          }`,
    threshold: 'exit 0, after the restore',
  });
  const times = catchUp(run);
  for (const r of run.replicas) {
    const t = times[r.replica];
    out.push({
      name: `move applied after the paths came back (${r.replica})`,
      pass: t !== undefined && t <= CATCH_UP_MS,
      measured: t === undefined ? `never (within ${CATCH_UP_BOUND_MS / 1000} s)` : `${t} ms after the paths came back`,
      threshold: `<= ${CATCH_UP_MS} ms`,
    });
  }
  return out;
}

/**
 * Every failed request: the move never froze the source while a cut plane could still send it
 * the market, so no stale write is refused there, and none is set apart.
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
    'Cut an edge host (a router and an Envoy; cellctl up --hosts) off from the Consul servers and the control plane, not from the cells or the client, and move a market meanwhile: the move waits before its freeze for the cut router (the source not frozen), both keep routing with no failed request, and once the paths are back the move completes and both apply it within 5 s.',
  faultCells: () => [],
  expectations: () => ({}),
  gates: () => [],
  windowUntilHealed: true,
  sabotage: ['faultNeverStarts', 'faultEveryCell'],
  preflight(env) {
    if (!hostsOf(env).edges.length) throw new Error('this topology has no edge host');
    if (!env.migration) throw new Error('this topology does not expose migration records');
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
      const before = (await ctx.env.migration!(m.market).catch(() => undefined))?.id;
      run.stop = startProbes(run, m.market, 100, ctx.env.fetch);
      ctx.mark(`migrate ${m.market} ${m.from} -> ${m.to}`);
      const move: Move = { ...m, detail: '' };
      run.move = move;
      run.movedFrom = Date.now();
      // The move's wait outlasts the cut (docs/operators.md §Waiting for the data planes, 60 s): it ends after the heal.
      run.pending = ctx.env
        .cellctl(['migrate', m.market, '--to', m.to], 120_000)
        .catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }))
        .then((r) => {
          move.code = r.code;
          move.detail = (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? '';
          run.endedAt = Date.now();
          ctx.mark(`migrate ${m.market} exit ${r.code}${r.code ? `: ${move.detail}` : ''}`);
        });
      // Until the record shows the wait (or the move ended: nothing to wait for).
      for (const until = Date.now() + WAIT_SEEN_BOUND_MS; Date.now() < until && move.code === undefined; await sleep(100)) {
        const rec = await ctx.env.migration!(m.market).catch(() => undefined);
        const note = rec && rec.id !== before ? rec.notes.find((n) => WAITING.test(n)) : undefined;
        if (note) {
          run.waitNote = note;
          run.waitSeenAt = Date.now();
          ctx.mark(`migration of ${m.market}: ${note}`);
          break;
        }
      }
    } catch (err) {
      ctx.mark(`no market move: ${(err as Error).message}`);
    }
    return undefined;
  },
  async heal(ctx) {
    const run = runs.get(ctx);
    if (!run) return;
    if (run.waitSeenAt !== undefined) await sleep(run.waitSeenAt + CUT_AFTER_MOVE_MS - Date.now());
    if (run.move) run.stateAtHeal = (await ctx.env.migration!(run.move.market).catch(() => undefined))?.state;
    // Taken before the restore: an answer during it may already come after the paths are back.
    run.healedAt = Date.now();
    if (!ctx.opts.faultNeverStarts) await ctx.env.partitionHost!(run.edge, false);
    ctx.mark(`${run.edge}: paths restored (${Date.now() - run.healedAt} ms); migration was ${run.stateAtHeal ?? 'unknown'}`);
    // The window lasts until the move ended and both replicas applied it (or the bound).
    const until = run.healedAt + CATCH_UP_BOUND_MS;
    if (run.pending) await Promise.race([run.pending, sleep(until - Date.now())]);
    for (; Date.now() < until; await sleep(100)) {
      if (run.move?.code !== 0 || Object.values(catchUp(run)).every((t) => t !== undefined)) break;
    }
    await run.stop?.();
    ctx.mark(`caught up: ${JSON.stringify(catchUp(run))}`);
    await run.pending; // a move still running ends here (its own bound): no cellctl outlives the drill
  },
  verify: async (ctx) => edgeVerdicts(runs.get(ctx)),
  afterTraffic: async (ctx, t) => ({ verdicts: [failedVerdict(runs.get(ctx), t.requests)] }),
};
