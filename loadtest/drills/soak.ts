/**
 * soak: a long run at a steady rate on both planes while the topology is worked the whole time —
 * a market moved every 30 s (a real `cellctl migrate`), the soaked cell crashed every 2 minutes
 * (SIGKILL through the supervisor, down a few seconds, restarted) — held to spill 0, wrong-cell 0,
 * flat RSS of every router, the control plane and every cell, and no order lost or duplicated in
 * the cells' own data afterwards. Intervals scale down for short runs (loadtest/soak/schedule.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readProc, readRssKb } from '../../infra/procs.js';
import type { DrillEnv } from '../env/types.js';
import { countOrders, createdOrders, listMarket, orderVerdicts, type MarketListing } from '../soak/orders.js';
import { judgeRss, rssVerdicts, RSS_RULE, type RssSample } from '../soak/rss.js';
import { formatMs, soakSchedule, type SoakSchedule } from '../soak/schedule.js';
import { failuresOutsideCrashes, reattribute, servedAgainMs, type PlayedCrash, type PlayedMove } from '../soak/timeline.js';
import { NO_DATA, type Verdict } from '../verdicts.js';
import type { DrillHooks } from './hooks.js';
import type { Drill, DrillContext, DrillOptions } from './types.js';

/** The soaked cell's failures are the crash's from the kill until this long after it is ready again. */
export const RECOVER_MS = 5_000;
/** The kinds of process whose RSS is judged. */
const SAMPLED_KINDS = ['router', 'control-plane', 'cell'];

/** A process as `cellctl status --json` lists it. */
interface Listed {
  name: string;
  kind: string;
  state: string;
  pid: number | null;
  wrapperPid?: number | null;
}

interface SoakState {
  schedule: SoakSchedule;
  cell: string;
  start: number;
  moves: PlayedMove[];
  crashes: PlayedCrash[];
  samples: RssSample[];
  /** The processes whose RSS is judged, as first listed. */
  expected: string[];
  watched: Map<string, { kind: string; pid: number; group: number | null }>;
  relisting?: Promise<void>;
  stopped: boolean;
  loop?: Promise<void>;
  timers: NodeJS.Timeout[];
  moveIndex: number;
}

const states = new WeakMap<DrillContext, SoakState>();
const early = new WeakMap<DrillEnv, Promise<Listed[]>>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const firstLine = (s: string) => s.trim().split('\n').pop() ?? '';

/** The processes `cellctl status --json` lists (the listening pid of each supervised child). */
async function listProcesses(env: DrillEnv): Promise<Listed[]> {
  const r = await env.cellctl(['status', '--json'], 20_000);
  if (r.code !== 0) throw new Error(`cellctl status --json exited ${r.code}: ${firstLine(r.stderr)}`);
  const list = (JSON.parse(r.stdout) as { processes?: Listed[] | null }).processes;
  if (!list) throw new Error('cellctl status --json lists no processes (is this topology run by cellctl up?)');
  return list;
}

/** The sampling interval: 2 s in a long run, about 60 samples in a short one (at least every 250 ms). */
export function sampleEveryMs(durationMs: number): number {
  return Math.max(250, Math.min(2000, Math.round(durationMs / 60)));
}

function crashCell(env: DrillEnv, opts: DrillOptions): string {
  const cells = env.cells();
  const cell = opts.cell ?? cells.find((c) => c !== env.canaryCell()) ?? cells[0];
  if (!cell || !cells.includes(cell)) throw new Error(`unknown cell '${String(cell)}' (cells: ${cells.join(', ')})`);
  return cell;
}

/** Takes the listing into the watched set (running children of the sampled kinds). */
function watch(state: SoakState, list: Listed[]): void {
  for (const p of list) {
    if (!SAMPLED_KINDS.includes(p.kind) || p.state !== 'running' || p.pid === null) continue;
    state.watched.set(p.name, { kind: p.kind, pid: p.pid, group: p.wrapperPid ?? null });
    if (!state.expected.includes(p.name)) state.expected.push(p.name);
  }
}

/** Lists the processes again (after a restart, or when a watched pid is gone); one listing at a time. */
function relist(ctx: DrillContext, state: SoakState): Promise<void> {
  state.relisting ??= listProcesses(ctx.env)
    .then((list) => watch(state, list))
    .catch((err: Error) => ctx.mark(`process listing failed: ${firstLine(err.message)}`))
    .finally(() => (state.relisting = undefined));
  return state.relisting;
}

/** One RSS reading of every watched process; a pid no longer its child's triggers a new listing. */
function sample(ctx: DrillContext, state: SoakState): void {
  const t = Date.now();
  let stale = false;
  for (const [name, w] of state.watched) {
    const same = w.group === null || readProc(w.pid)?.pgid === w.group;
    const kb = same ? readRssKb(w.pid) : undefined;
    if (kb === undefined) {
      state.watched.delete(name);
      stale = true;
      continue;
    }
    state.samples.push({ name, kind: w.kind, pid: w.pid, t, kb });
  }
  if (stale) void relist(ctx, state);
}

async function crash(ctx: DrillContext, state: SoakState, n: number, of: number): Promise<void> {
  const c: PlayedCrash = { cell: state.cell, start: Date.now(), ready: null };
  state.crashes.push(c);
  try {
    await ctx.env.killAndHold(state.cell);
    ctx.mark(`crash ${n}/${of}: ${state.cell} killed (SIGKILL), down ${formatMs(state.schedule.crashDownMs)}`);
    await sleep(c.start + state.schedule.crashDownMs - Date.now());
    await ctx.env.restart(state.cell);
    c.ready = Date.now();
    ctx.mark(`crash ${n}/${of}: ${state.cell} ready again ${formatMs(c.ready - c.start)} after the kill`);
  } catch (err) {
    c.error = firstLine((err as Error).message);
    ctx.mark(`crash ${n}/${of}: ${state.cell} failed: ${c.error}`);
  }
  await relist(ctx, state);
}

async function move(ctx: DrillContext, state: SoakState, n: number, of: number): Promise<void> {
  const owners = await ctx.env.owners();
  const canary = ctx.env.canaryCell();
  const cells = ctx.env.cells().filter((c) => c !== canary);
  const weights = ctx.env.marketWeights?.() ?? {};
  // The busiest markets first, in turn: each move lands under real traffic.
  const candidates = Object.keys(owners)
    .filter((m) => cells.includes(owners[m]!))
    .sort((a, b) => (weights[b] ?? 0) - (weights[a] ?? 0) || a.localeCompare(b));
  const market = candidates[state.moveIndex++ % Math.max(1, candidates.length)];
  if (!market) {
    ctx.mark(`move ${n}/${of}: no market on a non-canary cell to move`);
    return;
  }
  const from = owners[market]!;
  const target = cells[(cells.indexOf(from) + 1) % cells.length]!;
  ctx.mark(`move ${n}/${of}: cellctl migrate ${market} ${from} -> ${target}`);
  const start = Date.now();
  const r = await ctx.env.cellctl(['migrate', market, '--to', target], 120_000);
  const end = Date.now();
  const now: Record<string, string> = await ctx.env.owners().catch(() => ({}));
  const m: PlayedMove = { market, from, to: now[market] ?? from, target, start, end, exitCode: r.code };
  if (r.code !== 0) m.error = firstLine(r.stderr || r.stdout);
  state.moves.push(m);
  ctx.mark(`move ${n}/${of}: ${market} exit ${r.code} in ${formatMs(end - start)}, now on ${m.to}${m.error ? `: ${m.error}` : ''}`);
}

/** Plays the schedule, one step at a time, to its end: the stop only says that the window is over. */
async function play(ctx: DrillContext, state: SoakState): Promise<void> {
  const steps = state.schedule.steps;
  const total = { move: steps.filter((s) => s.kind === 'move').length, crash: steps.filter((s) => s.kind === 'crash').length };
  const done = { move: 0, crash: 0 };
  for (const step of steps) {
    await sleep(state.start + step.at - Date.now());
    // Every step is due before the soak's end, but steps play one after the other, so a slow
    // migration or restart makes the later ones late. One still due when the window ends is played
    // then (the heal waits for it, and the window lasts until the heal is done) instead of dropped:
    // a loaded machine made a CI run play 4 of 5 planned moves, with nothing failed.
    const late = Date.now() - (state.start + step.at);
    if (state.stopped && late > 1000)
      ctx.mark(`${step.kind} ${done[step.kind] + 1}/${total[step.kind]} played ${formatMs(late)} late, after the window's end`);
    const n = ++done[step.kind];
    if (ctx.opts.faultNeverStarts) {
      ctx.mark(`sabotage (--fault-never-starts): ${step.kind} ${n}/${total[step.kind]} NOT played`);
      continue;
    }
    try {
      await (step.kind === 'move' ? move(ctx, state, n, total.move) : crash(ctx, state, n, total.crash));
    } catch (err) {
      ctx.mark(`${step.kind} ${n}/${total[step.kind]} failed: ${firstLine((err as Error).message)}`);
    }
  }
}

/** A progress line: how far, what was done, the latest RSS of each process. */
function progressLine(state: SoakState): string {
  const latest = new Map<string, number>();
  for (const s of state.samples) latest.set(s.name, s.kb);
  const rss = [...latest].map(([name, kb]) => `${name} ${(kb / 1024).toFixed(0)} MB`).join(', ');
  return `soak ${formatMs(Date.now() - state.start)}: ${state.moves.length} moves, ${state.crashes.length} crashes; RSS ${rss}`;
}

/** Verdicts on what the soak played: every planned move and crash done. */
function playedVerdicts(state: SoakState): Verdict[] {
  const planned = (k: 'move' | 'crash') => state.schedule.steps.filter((s) => s.kind === k).length;
  const moved = state.moves.filter((m) => m.exitCode === 0 && m.to === m.target);
  const bad = state.moves.filter((m) => !moved.includes(m));
  const back = state.crashes.filter((c) => c.ready !== null && !c.error);
  return [
    {
      name: `markets moved (every ${formatMs(state.schedule.moveEveryMs)})`,
      pass: planned('move') > 0 && moved.length === planned('move'),
      measured: `${moved.length} of ${planned('move')} planned${bad.length ? `; failed: ${bad.map((m) => `${m.market} -> ${m.target} exit ${m.exitCode}${m.error ? ` (${m.error})` : ''}`).join('; ')}` : ''}`,
      threshold: 'every planned move, exit 0, market on its target',
    },
    {
      name: `${state.cell} crashed and back (every ${formatMs(state.schedule.crashEveryMs)})`,
      pass: planned('crash') > 0 && back.length === planned('crash'),
      measured: `${back.length} of ${planned('crash')} planned${back.length ? `, ready ${back.map((c) => formatMs(c.ready! - c.start)).join(', ')} after the kill` : ''}${state.crashes.some((c) => c.error) ? `; ${state.crashes.map((c) => c.error ?? 'ok').join('; ')}` : ''}`,
      threshold: 'every planned crash, ready again',
    },
  ];
}

async function orderCheck(ctx: DrillContext, resultsFile: string): Promise<{ verdicts: Verdict[]; count: ReturnType<typeof countOrders> }> {
  const created = await createdOrders(resultsFile);
  const owners = await ctx.env.owners();
  const base = ctx.env.targets(['router'])[0] ?? ctx.env.targets(['envoy'])[0];
  const listings: MarketListing[] = [];
  for (const market of [...new Set(created.map((o) => o.market))].sort()) {
    const owner = owners[market] ?? '';
    listings.push(
      base
        ? await listMarket(base.url, market, owner, ctx.env.fetch)
        : { market, owner, answeredBy: '', ids: [], error: 'no data-plane replica to list through' },
    );
  }
  const count = countOrders(created, listings);
  ctx.mark(`orders: ${count.created} created (201), ${count.lost} lost, ${count.duplicated} duplicated, over ${listings.length} markets`);
  return { verdicts: orderVerdicts(count), count };
}

/** The drill. */
export const SOAK: Drill & DrillHooks = {
  name: 'soak',
  movesMarkets: true,
  description:
    'Long run on both planes: a market moved every 30 s, a cell crashed every 2 min (scaled down for short runs); spill 0, wrong-cell 0, flat RSS, no order lost or duplicated.',
  faultCells: (env, opts) => [crashCell(env, opts)],
  // The crashes must bite (at least one failed request of the soaked cell), and nothing else may fail.
  expectations: () => ({ faultObserved: { minFailed: 1, pooled: true }, spillZero: true }),
  gates: () => [{ scope: 'other', maxShare: 0 }],
  // The whole run is the soak: no baseline, no recovery phase.
  phases: { before: 0, window: 1 },
  windowUntilHealed: true,
  sabotage: ['faultNeverStarts'],
  preflight(env) {
    const others = env.cells().filter((c) => c !== env.canaryCell());
    if (others.length < 2) throw new Error(`soak moves markets between two non-canary cells; this topology has ${others.length}`);
    if (env.consulPersistent?.() === false) throw new Error('soak needs a persistent Consul (cellctl up --persist)');
    early.set(env, listProcesses(env));
  },
  async inject(ctx) {
    const state: SoakState = {
      schedule: soakSchedule(ctx.opts.durationMs),
      cell: ctx.faultCells[0]!,
      start: Date.now(),
      moves: [],
      crashes: [],
      samples: [],
      expected: [],
      watched: new Map(),
      stopped: false,
      timers: [],
      moveIndex: 0,
    };
    states.set(ctx, state);
    const listed = early.get(ctx.env) ?? listProcesses(ctx.env);
    early.delete(ctx.env);
    watch(state, await listed);
    const s = state.schedule;
    ctx.mark(
      `soak for ${formatMs(ctx.opts.durationMs)}: a move every ${formatMs(s.moveEveryMs)}, ${state.cell} crashed every ${formatMs(s.crashEveryMs)} (down ${formatMs(s.crashDownMs)}); RSS of ${state.expected.join(', ')} every ${formatMs(sampleEveryMs(ctx.opts.durationMs))}`,
    );
    sample(ctx, state);
    state.timers.push(setInterval(() => sample(ctx, state), sampleEveryMs(ctx.opts.durationMs)));
    // Long runs say how they are doing once a minute (stderr, through the drill's progress).
    if (ctx.opts.durationMs >= 180_000) state.timers.push(setInterval(() => ctx.mark(progressLine(state)), 60_000));
    state.loop = play(ctx, state);
    return undefined;
  },
  async heal(ctx) {
    const state = states.get(ctx);
    if (!state) return;
    state.stopped = true;
    await state.loop;
    await state.relisting;
    sample(ctx, state);
    for (const t of state.timers) clearInterval(t);
    ctx.mark(progressLine(state));
  },
  async afterTraffic(ctx, run) {
    const state = states.get(ctx);
    if (!state) return { verdicts: [{ name: 'soak ran', pass: false, measured: 'never started', threshold: 'started' }] };
    const requests = reattribute(run.requests, state.moves);
    const outside = failuresOutsideCrashes(requests, state.cell, state.crashes, RECOVER_MS);
    const served = state.crashes.map((c) => servedAgainMs(requests, state.cell, c));
    const recovered: Verdict = {
      name: `${state.cell} serves again after each crash (no failure later than ready + ${RECOVER_MS / 1000} s)`,
      pass: served.length > 0 && served.every((ms) => ms !== null) && outside.length === 0,
      measured: !served.length
        ? `${NO_DATA} (no crash)`
        : `${outside.length} failures${outside.length ? ` (first at +${formatMs(outside[0]!.start - state.start)}: ${outside[0]!.code})` : ''}; first success after ready: ${served.map((ms) => (ms === null ? NO_DATA : formatMs(ms))).join(', ')}`,
      threshold: '0, and a success after every crash',
    };
    const runSpan = { start: state.samples[0]?.t ?? 0, end: state.samples.at(-1)?.t ?? 0 };
    const rss = judgeRss(state.samples, runSpan, RSS_RULE);
    const orders = await orderCheck(ctx, run.resultsFile).catch((err: Error) => ({
      verdicts: [{ name: 'orders checked against the cells', pass: false, measured: firstLine(err.message), threshold: 'checked' }],
      count: undefined,
    }));
    writeFileSync(
      join(run.reportDir, 'soak.json'),
      `${JSON.stringify({ cell: state.cell, schedule: state.schedule, moves: state.moves, crashes: state.crashes, rss, orders: orders.count, samples: state.samples }, null, 1)}\n`,
    );
    return {
      verdicts: [...playedVerdicts(state), recovered, ...rssVerdicts(rss, state.expected, RSS_RULE), ...orders.verdicts],
      requests,
    };
  },
};
