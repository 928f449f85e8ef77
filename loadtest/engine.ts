/**
 * Runs one drill: plans the traffic, starts k6 (open model), injects the fault after a baseline,
 * heals it, lets the system recover, then computes every figure from k6's own points, judges
 * them and writes reports/<drill>-<timestamp>/.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { analyze, type FaultWindow } from './analyze.js';
import type { Drill, DrillContext, DrillOptions } from './drills/types.js';
import { assertReachable } from './env/reachable.js';
import type { DrillEnv } from './env/types.js';
import { K6_DIR, startK6 } from './k6-run.js';
import { cellShares, givenWeights, trafficConfig, withMinShare, writeTrafficConfig, zipfWeights } from './plan.js';
import { readPoints } from './points.js';
import { thresholdResults, writeReport, type DrillEvent, type DrillReport } from './report/report.js';
import { allPass, judge, type Verdict } from './verdicts.js';

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
/** k6's start-up before the first request, measured at ~0.5 s here; the baseline starts after it. */
const K6_WARMUP_MS = 1000;
/** Longest a heal (a restart, a rollout) may take before k6's own cap ends the traffic. */
const MAX_HEAL_S = 180;
/** k6's exit code after SIGINT. */
const K6_INTERRUPTED = 105;

function stamp(d: Date): string {
  return d.toISOString().replace(/[:.]/g, '-').replace('Z', '');
}

/** Runs `drill` against `env`; resolves with the written report (never throws for a failed verdict). */
export async function runDrill(drill: Drill, env: DrillEnv, opts: DrillOptions, eo: EngineOptions): Promise<DrillReport> {
  const started = new Date();
  const events: DrillEvent[] = [];
  const mark = (what: string) => {
    events.push({ t: Date.now(), what });
    eo.progress?.(`[${drill.name}] ${what}`);
  };
  drill.preflight?.(env);
  const faultCells = drill.faultCells(env, opts);
  const owners = await env.owners();
  const weights = env.marketWeights?.();
  const weighted = weights && Object.keys(weights).length ? givenWeights(owners, weights) : zipfWeights(owners);
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
    // k6 runs until the drill stops it (after the heal plus the recovery phase); this is only a cap.
    duration: `${Math.round(opts.durationMs / 1000) + MAX_HEAL_S}s`,
    faultCells,
    thresholds: drill.thresholds(opts),
    timeout: `${opts.requestTimeoutMs ?? 10_000}ms`,
    ...(opts.mix ? { mix: opts.mix } : {}),
    ...(opts.stages?.length
      ? {
          // The last target is held after the stages, until the drill stops k6.
          stages: [
            ...opts.stages.map((st) => ({ target: st.target, duration: `${st.durationMs}ms` })),
            { target: opts.stages[opts.stages.length - 1]!.target, duration: `${MAX_HEAL_S}s` },
          ],
        }
      : {}),
  });
  const cfgPath = join(dir, 'traffic-config.json');
  writeTrafficConfig(cfgPath, cfg);

  const beforeMs = opts.durationMs * (eo.beforeShare ?? 0.3);
  const windowMs = Math.round(opts.durationMs * (eo.windowShare ?? 0.35));
  const afterMs = Math.max(0, opts.durationMs - beforeMs - windowMs);
  const ctx: DrillContext = { env, opts, faultCells, windowMs, mark };
  const k6 = startK6({
    script: join(K6_DIR, 'traffic.js'),
    outDir: dir,
    env: { CONFIG: cfgPath },
    dashboard: opts.durationMs >= 5000,
    timeoutMs: opts.durationMs + 10 * 60_000,
  });
  mark(`k6 started (pid ${k6.pid}), ${opts.rate}/s on ${targets.map((t) => t.replica).join(', ')}`);
  let injected: Awaited<ReturnType<Drill['inject']>>;
  let window: FaultWindow;
  try {
    await sleep(k6.startedAt + K6_WARMUP_MS + beforeMs - Date.now());
    const start = Date.now();
    injected = await drill.inject(ctx);
    await sleep(start + windowMs - Date.now());
    const healFrom = Date.now();
    await drill.heal(ctx);
    const end = drill.windowUntilHealed ? Date.now() : healFrom;
    window = { start, end, cells: faultCells, killedReplica: injected?.killedReplica };
    // The recovery phase starts when the heal is done (a restart may take seconds).
    await Promise.race([sleep(afterMs), k6.done]);
  } finally {
    k6.stop();
  }
  const k6Result = await k6.done;
  mark(`k6 stopped, exit ${k6Result.exitCode}`);
  const extra: Verdict[] = drill.verify ? await drill.verify(ctx) : [];

  const points = existsSync(k6.pointsFile) ? await readPoints(k6.pointsFile) : { requests: [], failovers: [] };
  const analysis = analyze(points, window);
  const summary: unknown = existsSync(k6.summaryFile) ? JSON.parse(readFileSync(k6.summaryFile, 'utf8')) : {};
  const thresholds = thresholdResults(summary);
  // k6 exits 105 when the drill stops it (SIGINT) and 99 when a threshold was crossed.
  const k6Ran = k6Result.exitCode === 0 || k6Result.exitCode === 99 || k6Result.exitCode === K6_INTERRUPTED;
  const crossed = Object.entries(thresholds).filter(([, ok]) => !ok);
  const k6Verdict: Verdict = {
    name: 'k6 thresholds',
    pass: k6Ran && k6Result.exitCode !== 99 && crossed.length === 0 && Object.keys(thresholds).length > 0,
    measured: k6Ran
      ? crossed.length
        ? `crossed: ${crossed.map(([k]) => k).join(', ')}`
        : `${Object.keys(thresholds).length} held`
      : `k6 exit ${k6Result.exitCode}: ${k6Result.output.trim().split('\n').slice(-2).join(' ')}`,
    threshold: 'every threshold held',
  };
  const verdicts = judge(analysis, drill.expectations(opts), [...extra, k6Verdict]);
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
    k6: { exitCode: k6Result.exitCode, thresholds },
    plannedShares: cellShares(markets),
    events,
    analysis,
    files: { points: k6.pointsFile, summary: k6.summaryFile, dashboard: existsSync(k6.dashboardFile) ? k6.dashboardFile : undefined },
  });
}
