/**
 * Benchmark load of `GET /v1/orders` with an `x-market-id` header, run by real vegeta (through
 * infra/vegeta, the one client): an open model at a fixed rate, or a closed one (rate 0, a fixed
 * pool of workers) for maximum throughput. Markets are drawn at random from m-0..m-(n-1) into a
 * targets file that vegeta loops over; the file holds many more draws than a router's route
 * cache, so the access pattern stays that of random markets.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startAttack, vegetaReport, writeTargets, type VegetaTarget } from '../vegeta/index.js';

/** Random draws per targets file (vegeta round-robins over them). */
const DRAWS = 100_000;

/** Options of {@link measureLoad}. */
export interface LoadOptions {
  /** Base URL; requests go to `<url>/v1/orders`. */
  url: string;
  /** Markets drawn at random from m-0..m-(markets-1); or one fixed market with `market`. */
  markets?: number;
  market?: string;
  /** Requests per second (open model); 0 = as fast as `workers` go (closed model). */
  rate: number;
  /** Closed model (rate 0): the fixed worker pool (required). Open model: the initial workers (vegeta's default 10). */
  workers?: number;
  /** Open model: the most workers; an arrival with none free is sent late (fewer requests in the run). Default unbounded. */
  maxWorkers?: number;
  durationMs: number;
  /** The status a request must get to count as passed; default 200. */
  expect?: number;
  /** CPU list vegeta is pinned to (taskset), and its GOMAXPROCS. */
  cpus?: string;
  maxProcs?: number;
  /** Directory for targets and results files (one run's results are removed after its report). */
  dir: string;
}

/** What one run measured. Latencies in ms (vegeta report). */
export interface LoadFigures {
  p50: number;
  p99: number;
  max: number;
  /** Successful answers per second (vegeta's throughput: successes / (duration + wait)). */
  rps: number;
  requests: number;
  /** Requests that did not get the expected status. */
  failed: number;
  /** Open model: arrivals vegeta did not send within the run (rate × duration − requests); 0 for a closed run. */
  missing: number;
  /** vegeta's own CPU, in cores (CPU seconds / wall seconds). */
  generatorCores: number;
  wallSec: number;
  /** vegeta's distinct error texts (first 5), for a run with failures. */
  errors: string[];
}

const targetsFiles = new Map<string, string>();
let runs = 0;

function* marketTargets(url: string, markets: number | undefined, market: string | undefined): Generator<VegetaTarget> {
  const target = (m: string): VegetaTarget => ({ method: 'GET', url: `${url}/v1/orders`, header: { 'x-market-id': m } });
  if (!markets) {
    yield target(market ?? 'm-0');
    return;
  }
  for (let i = 0; i < DRAWS; i++) yield target(`m-${Math.floor(Math.random() * markets)}`);
}

/** The targets file of a URL and market choice, written once per directory and reused. */
async function targetsFile(o: LoadOptions): Promise<string> {
  const key = JSON.stringify([o.dir, o.url, o.markets ?? 0, o.market ?? '']);
  let file = targetsFiles.get(key);
  if (!file) {
    file = join(o.dir, `targets-${targetsFiles.size}.json`);
    await writeTargets(file, marketTargets(o.url, o.markets, o.market));
    targetsFiles.set(key, file);
  }
  return file;
}

/** Runs one vegeta attack and reads its figures; rejects when vegeta itself fails. */
export async function measureLoad(o: LoadOptions): Promise<LoadFigures> {
  const resultsFile = join(o.dir, `results-${runs++}.json`);
  const closed = o.rate === 0;
  const attack = startAttack({
    targetsFile: await targetsFile(o),
    rate: o.rate,
    durationMs: o.durationMs,
    workers: o.workers,
    maxWorkers: closed ? o.workers : o.maxWorkers,
    timeoutMs: 10_000,
    resultsFile,
    cpus: o.cpus,
    maxProcs: o.maxProcs,
    killAfterMs: o.durationMs + 60_000,
  });
  const outcome = await attack.done;
  try {
    if (outcome.exitCode !== 0 || outcome.results === 0) {
      throw new Error(`vegeta attack exited ${outcome.exitCode} with ${outcome.results} results: ${outcome.output.slice(-2000)}`);
    }
    const r = await vegetaReport(resultsFile);
    const passed = r.statusCodes[String(o.expect ?? 200)] ?? 0;
    return {
      p50: r.p50,
      p99: r.p99,
      max: r.max,
      rps: r.throughput,
      requests: r.requests,
      failed: r.requests - passed,
      missing: closed ? 0 : Math.max(0, Math.round((o.rate * o.durationMs) / 1000) - r.requests),
      generatorCores: outcome.cpuSec / outcome.wallSec,
      wallSec: outcome.wallSec,
      errors: r.errors.slice(0, 5),
    };
  } finally {
    rmSync(resultsFile, { force: true });
  }
}
