/**
 * Runs one drill: plans the traffic, starts vegeta with the traffic model (open model), injects
 * the fault after a baseline, heals it, lets the system recover, then computes every figure from
 * vegeta's per-request results, judges them and writes reports/<drill>-<timestamp>/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { vegetaPlot } from '../infra/vegeta/index.js';
import { analyze, type FaultWindow } from './analyze.js';
import { startSabotagedRouter } from './drills/router-sabotage.js';
import { assertSabotageApplies } from './drills/sabotage.js';
import { settleCells } from './drills/settle.js';
import type { DrillHooks } from './drills/hooks.js';
import type { Drill, DrillContext, DrillOptions } from './drills/types.js';
import { assertReachable } from './env/reachable.js';
import type { DrillEnv } from './env/types.js';
import { cellShares, givenWeights, trafficConfig, withCellFloor, withMinShare, zipfWeights } from './plan.js';
import { writeReport, type DrillEvent, type DrillReport } from './report/report.js';
import { startTraffic } from './traffic/run.js';
import { allPass, gateVerdicts, judge, type Verdict } from './verdicts.js';

/** Where reports go, and how the run is split. */
export interface EngineOptions {
  reportsDir: string;
  /** Share of the run before the fault (baseline). Default 0.3. */
  beforeShare?: number;
  /** Share of the run the fault lasts. Default 0.35. */
  windowShare?: number;
  /** Called with progress lines (the CLI prints them, tests stay quiet). */
  progress?: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
/** vegeta's start-up before the first answers; the baseline starts after it. */
const WARMUP_MS = 500;
/** Longest a heal (a restart, a rollout) may take before the traffic's own cap ends it. */
const MAX_HEAL_MS = 180_000;

/**
 * Markets whose owner changed during the run (market → owner now). Unreadable owners leave the
 * plan's owners in force: a moved market's answers then count as wrong-cell (a FAIL, never a pass).
 */
async function movedMarkets(env: DrillEnv, planned: Record<string, string>, mark: (what: string) => void): Promise<Record<string, string>> {
  let now: Record<string, string>;
  try {
    now = await env.owners();
  } catch (err) {
    mark(`market owners unreadable after the run (${(err as Error).message.split('\n')[0]}); answers judged against the plan's owners`);
    return {};
  }
  const moved = Object.fromEntries(Object.entries(now).filter(([m, cell]) => planned[m] !== undefined && planned[m] !== cell));
  if (Object.keys(moved).length) mark(`markets moved during the run: ${JSON.stringify(moved)}`);
  return moved;
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[:.]/g, '-').replace('Z', '');
}

/**
 * Runs `drill` against `env`; resolves with the written report (never throws for a failed verdict).
 * A router sabotage switch runs it on a sabotaged extra router (drills/router-sabotage.ts), stopped
 * afterwards whatever happens.
 */
export async function runDrill(drill: Drill, env: DrillEnv, opts: DrillOptions, eo: EngineOptions): Promise<DrillReport> {
  assertSabotageApplies(drill, opts);
  drill.preflight?.(env, opts);
  const sabotaged = await startSabotagedRouter(env, opts, drill.faultCells(env, opts));
  if (!sabotaged) return runOnce(drill, env, opts, eo);
  try {
    return await runOnce(drill, sabotaged.env, opts, eo, [sabotaged.note]);
  } finally {
    await sabotaged.stop();
  }
}

async function runOnce(drill: Drill, env: DrillEnv, opts: DrillOptions, eo: EngineOptions, notes: string[] = []): Promise<DrillReport> {
  const started = new Date();
  const events: DrillEvent[] = [];
  const mark = (what: string) => {
    events.push({ t: Date.now(), what });
    eo.progress?.(`[${drill.name}] ${what}`);
  };
  for (const note of notes) mark(note);
  // What a previous drill left (a host cut off, a cell restarting) must not refuse this one's moves.
  if (drill.movesMarkets) {
    const waited = await settleCells(env);
    if (waited >= 500) mark(`every cell passes its Consul checks (waited ${waited} ms)`);
  }
  const faultCells = drill.faultCells(env, opts);
  const owners = await env.owners();
  const weights = env.marketWeights?.();
  const uneven = weights && Object.keys(weights).length ? givenWeights(owners, weights) : zipfWeights(owners);
  // Every cell carries at least half an even share, so each has requests to judge in every phase.
  const weighted = withCellFloor(uneven, 1 / (2 * Object.keys(cellShares(uneven)).length));
  const boost = drill.minShare?.(env);
  const markets = boost ? withMinShare(weighted, boost.cell, boost.share) : weighted;
  const targets = env.targets(opts.planes);
  if (targets.length === 0) throw new Error(`no ${opts.planes.join('/')} replicas in the topology`);
  await assertReachable(targets);
  const dir = resolve(eo.reportsDir, `${drill.name}-${stamp(started)}`);
  mkdirSync(dir, { recursive: true });
  const cfg = trafficConfig({
    runId: `${drill.name}-${started.getTime()}`,
    targets,
    markets,
    rate: opts.rate,
    faultCells,
    timeoutMs: opts.requestTimeoutMs ?? 10_000,
    ...(opts.mix ? { mix: opts.mix } : {}),
  });
  writeFileSync(join(dir, 'traffic-config.json'), `${JSON.stringify(cfg, null, 2)}\n`);

  const hooks = drill as Drill & DrillHooks;
  const beforeMs = opts.durationMs * (eo.beforeShare ?? hooks.phases?.before ?? 0.3);
  const windowMs = Math.round(opts.durationMs * (eo.windowShare ?? hooks.phases?.window ?? 0.35));
  const afterMs = Math.max(0, opts.durationMs - beforeMs - windowMs);
  const ctx: DrillContext = { env, opts, faultCells, windowMs, mark };
  const resultsFile = join(dir, 'results.json');
  // Under cellctl up --hosts the load generator runs on the client host.
  const netns = env.hosts?.()?.clientNetns;
  const traffic = startTraffic(cfg, { resultsFile, maxMs: opts.durationMs + MAX_HEAL_MS, netns, rootCerts: env.caFile?.() });
  mark(`vegeta started (pid ${traffic.pid}), ${opts.rate}/s on ${targets.map((t) => t.replica).join(', ')}`);
  let injected: Awaited<ReturnType<Drill['inject']>>;
  let window: FaultWindow;
  try {
    await sleep(traffic.startedAt + WARMUP_MS + beforeMs - Date.now());
    const start = Date.now();
    injected = await drill.inject(ctx);
    await sleep(start + windowMs - Date.now());
    const healFrom = Date.now();
    await drill.heal(ctx);
    const end = drill.windowUntilHealed ? Date.now() : healFrom;
    window = {
      start: Math.max(start, injected?.faultAt ?? start),
      end,
      cells: faultCells,
      killedReplica: injected?.killedReplica,
      laterKills: injected?.laterKills,
    };
    // The recovery phase starts when the heal is done (a restart may take seconds).
    await Promise.race([sleep(afterMs), traffic.done]);
  } finally {
    traffic.stop();
  }
  const outcome = await traffic.done;
  mark(
    `vegeta stopped, exit ${outcome.exitCode}, ${outcome.requests.length} requests, ${outcome.retries.length} retries, ${outcome.failovers.length} failovers`,
  );
  const extra: Verdict[] = drill.verify ? await drill.verify(ctx) : [];
  // A drill that plays its own timeline judges its points and re-attributes them to the owner of the moment.
  const after = await hooks.afterTraffic?.(ctx, { resultsFile, reportDir: dir, requests: outcome.requests });
  extra.push(...(after?.verdicts ?? []));
  const requests = after?.requests ?? outcome.requests;
  if (!after?.requests) window.moved = await movedMarkets(env, owners, mark);

  const analysis = analyze({ ...outcome, requests, planes: opts.planes, cells: Object.keys(cellShares(markets)) }, window);
  const plotFile = join(dir, 'vegeta-plot.html');
  let plot: string | undefined;
  try {
    await vegetaPlot(resultsFile, plotFile, `cellsim drill ${drill.name}`);
    plot = plotFile;
  } catch (err) {
    mark(`vegeta plot failed: ${(err as Error).message.split('\n')[0]}`);
  }
  const vegetaVerdict: Verdict = {
    name: 'vegeta ran',
    pass: outcome.exitCode === 0,
    measured: outcome.exitCode === 0 ? 'exit 0' : `exit ${outcome.exitCode}: ${outcome.output.trim().split('\n').slice(-2).join(' ')}`,
    threshold: 'exit 0',
  };
  const verdicts = judge(analysis, drill.expectations(opts), [...extra, ...gateVerdicts(analysis, drill.gates(opts)), vegetaVerdict]);
  return writeReport(dir, {
    drill: drill.name,
    description: drill.description,
    planes: opts.planes,
    startedAt: started.toISOString(),
    rate: opts.rate,
    durationMs: Date.now() - started.getTime(),
    faultCells,
    pass: allPass(verdicts),
    verdicts,
    vegeta: { exitCode: outcome.exitCode, droppedFollowUps: outcome.droppedFollowUps },
    plannedShares: cellShares(markets),
    events,
    analysis,
    files: { results: resultsFile, plot },
  });
}
