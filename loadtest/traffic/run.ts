/**
 * Drives real vegeta with the traffic model: vegeta's constant pacer sets the arrival rate
 * (`-rate`, open model) and asks the model for each next request (infra/vegeta's paced attack);
 * every result streams back into the model, which turns it into a point for the analysis.
 */
import { startPacedAttack } from '../../infra/vegeta/index.js';
import type { TrafficConfig } from '../plan.js';
import type { TrafficPoints } from '../points.js';
import { TrafficModel } from './model.js';

/** Options of {@link startTraffic}. */
export interface TrafficRunOptions {
  /** vegeta's JSON results (kept for `vegeta report` and `vegeta plot`). */
  resultsFile: string;
  /** How far ahead of vegeta's pacer targets are written, ms. */
  leadMs?: number;
  /** Hard cap on the run, ms. */
  maxMs: number;
  /** Network namespace vegeta runs in (the client host of `cellctl up --hosts`). */
  netns?: string;
  /** The CA file HTTPS targets chain to (`cellctl up --tls`: `<data>/tls/ca.crt`). */
  rootCerts?: string;
}

/** What a finished run gives the analysis. */
export interface TrafficOutcome extends TrafficPoints {
  /** vegeta's exit code (0 when it ended because the targets ended). */
  exitCode: number;
  /** vegeta's stderr tail. */
  output: string;
  /** Read-backs not made because the follow-up queue was full. */
  droppedFollowUps: number;
}

/** A run in progress. */
export interface TrafficRun {
  pid: number;
  startedAt: number;
  /** Ends the targets: vegeta finishes what is in flight and exits. */
  stop(): void;
  done: Promise<TrafficOutcome>;
}

/** Starts vegeta on the model's targets at `cfg.rate` per second until `stop()` (or `maxMs`). */
export function startTraffic(cfg: TrafficConfig, o: TrafficRunOptions): TrafficRun {
  const model = new TrafficModel(cfg);
  const points: TrafficPoints = { requests: [], failovers: [], retries: [] };
  const attack = startPacedAttack({
    rate: cfg.rate,
    next: () => model.next(Date.now()),
    leadMs: o.leadMs ?? 250,
    timeoutMs: cfg.timeoutMs,
    // Enough of a body for an order's ID and an error's code; lists are cut.
    maxBody: 8192,
    // Enough workers for every request of the timeout at the rate (a hung cell holds its own).
    maxWorkers: Math.max(100, Math.ceil((cfg.rate * cfg.timeoutMs) / 1000) + 50),
    resultsFile: o.resultsFile,
    killAfterMs: o.maxMs + 60_000,
    netns: o.netns,
    rootCerts: o.rootCerts,
    onResult: (r) => {
      const out = model.onResult(r, Date.now());
      if (out.kind === 'request') points.requests.push(out.point);
      else if (out.kind === 'failover') points.failovers.push(out.point);
      else if (out.kind === 'retry') points.retries.push(out.point);
    },
  });
  const stop = () => attack.end();
  const cap = setTimeout(stop, o.maxMs);
  const done = attack.done.then((outcome) => {
    stop();
    clearTimeout(cap);
    points.requests.sort((a, b) => a.start - b.start);
    return { ...points, exitCode: outcome.exitCode, output: outcome.output, droppedFollowUps: model.droppedFollowUps };
  });
  return { pid: attack.pid, startedAt: attack.startedAt, stop, done };
}
