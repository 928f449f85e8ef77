/**
 * One rollout's waves (issue 6 §4): per wave, stage the new version on each cell's idle color
 * (health-checked, no user traffic), switch `cells/<id>.activeColor` to it, bake while checking
 * the SLO every second against the other cells; on a breach, switch every touched cell back
 * to its old color (one CAS write each: traffic moves at once), stop the new instances, and
 * record the verdict. After the last wave, the old instances stop.
 */
import { CellRecordSchema, type CellRecord, type KvLayout, type RolloutRecord, type WaveVerdict } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import type { HttpCellAdmin } from '../migration/cell-client.js';
import type { RolloutOptions } from './options.js';
import { closeWaves, RecordedRun } from './recorded-run.js';
import { diff, parsePrometheus, sum, trafficOf, type Traffic } from './prom.js';
import { judge } from './slo.js';
import type { CellProcesses } from './supervisor-client.js';

/** What a rollout run needs. */
export interface RunnerDeps {
  kv: KvStore;
  layout: KvLayout;
  procs: CellProcesses;
  cells: Pick<HttpCellAdmin, 'instances' | 'registeredInstances' | 'metrics'>;
  log: Logger;
  opts: RolloutOptions;
  aborted: () => boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The cell record without its weighted shift (the whole cell on one color again). */
export function withoutShift(c: CellRecord): CellRecord {
  const { shift: _shift, ...rest } = c;
  return rest;
}
const other = (c: 'blue' | 'green'): 'blue' | 'green' => (c === 'blue' ? 'green' : 'blue');

/** Runs a rollout record to its end. */
export class RolloutRun extends RecordedRun {
  private readonly touched = new Set<string>();

  constructor(
    private readonly deps: RunnerDeps,
    rec: RolloutRecord,
  ) {
    super(deps, rec);
  }

  private newColor(cell: string): 'blue' | 'green' {
    return other(this.rec.previous[cell]?.color ?? 'blue');
  }

  /** Drives every wave; never throws (a failure rolls back and is recorded). */
  async run(): Promise<RolloutRecord> {
    try {
      for (let i = 0; i < this.rec.waves.length; i++) {
        if (this.deps.aborted()) return await this.rollback('aborted by operator', 'aborted');
        const ok = await this.wave(i);
        if (!ok) return this.rec;
      }
      for (const cell of this.touched)
        await this.deps.procs.stopCell(cell, this.rec.previous[cell]?.color ?? 'blue').catch(() => undefined);
      await this.save({ state: 'succeeded', report: `${this.rec.version} runs on ${[...this.touched].join(', ')}` });
      this.deps.log.info({ rollout: this.rec.id }, `rollout ${this.rec.version} succeeded`);
    } catch (err) {
      await this.rollback(`failed: ${(err as Error).message}`, 'failed');
    }
    return this.rec;
  }

  private async wave(i: number): Promise<boolean> {
    const { procs, opts, log } = this.deps;
    const wave = this.rec.waves[i]!;
    await this.setWave(i, { state: 'staging' });
    await Promise.all(
      wave.cells.map(async (cell) => {
        const color = this.newColor(cell);
        await procs.startCell(cell, color, this.rec.version, this.rec.defect);
        await this.waitPassing(cell, color);
      }),
    );
    const before = await this.scrape(wave.cells, true);
    const baseCells = Object.keys(this.rec.previous).filter((c) => !wave.cells.includes(c));
    const baseBefore = await this.scrape(baseCells, false);
    // Weighted steps first (docs/weighted-shifts.md): a share of the cells' traffic to the new color, each baked.
    for (const percent of opts.steps) {
      for (const cell of wave.cells) {
        this.touched.add(cell);
        await this.setCell(cell, (c) => ({ ...c, shift: { color: this.newColor(cell), percent } }));
      }
      const steps = [...(this.rec.waves[i]!.steps ?? []), { percent }];
      await this.setWave(i, { state: 'baking', steps });
      log.info(
        { rollout: this.rec.id, wave: wave.cells, percent },
        `wave ${i}: ${percent}% of ${wave.cells.join(', ')} on ${this.rec.version}; baking`,
      );
      const verdict = await this.bake(i, before, baseBefore, baseCells, percent);
      if (!verdict) return false;
      await this.setWave(i, { steps: steps.map((s) => (s.percent === percent ? { ...s, verdict } : s)) });
    }
    for (const cell of wave.cells) {
      this.touched.add(cell);
      await this.setCell(cell, (c) => ({ ...withoutShift(c), activeColor: this.newColor(cell), version: this.rec.version }));
    }
    await this.setWave(i, { state: 'baking' });
    log.info({ rollout: this.rec.id, wave: wave.cells }, `wave ${i}: ${wave.cells.join(', ')} switched to ${this.rec.version}; baking`);
    const verdict = await this.bake(i, before, baseBefore, baseCells, 100);
    if (!verdict) return false;
    await this.setWave(i, { state: 'passed', verdict });
    return true;
  }

  /**
   * Bakes the wave's new instances for `opts.bakeMs` (its first `opts.warmupMs` not judged), judging the SLO every check against the
   * other cells; resolves with the last verdict, or undefined once it rolled back (breach, abort).
   * A weighted step (`percent` below 100) that saw too little traffic passes as inconclusive: the
   * full switch's bake, which follows, is the one held to the idle rule.
   */
  private async bake(
    i: number,
    before: Traffic,
    baseBefore: Traffic,
    baseCells: string[],
    percent: number,
  ): Promise<WaveVerdict | undefined> {
    const { opts } = this.deps;
    const wave = this.rec.waves[i]!;
    const end = Date.now() + opts.bakeMs;
    // The warm-up (at most half the bake): not judged, the verdict's window opens after it.
    const warmupMs = Math.min(opts.warmupMs, Math.floor(opts.bakeMs / 2));
    if (warmupMs > 0) {
      const until = Date.now() + warmupMs;
      while (Date.now() < until && !this.deps.aborted()) await sleep(Math.min(opts.checkIntervalMs, until - Date.now()));
      before = await this.scrape(wave.cells, true);
      baseBefore = await this.scrape(baseCells, false);
    }
    for (;;) {
      await sleep(Math.min(opts.checkIntervalMs, Math.max(0, end - Date.now())));
      if (this.deps.aborted()) {
        await this.rollback('aborted by operator', 'aborted');
        return undefined;
      }
      const now = await this.scrape(wave.cells, true);
      const base = await this.scrape(baseCells, false);
      let verdict = judge(diff(now, before), diff(base, baseBefore), opts.slo);
      const idle = verdict.requests < opts.slo.minRequests && percent === 100;
      if (Date.now() >= end && idle && !opts.allowIdle) {
        // Too little traffic to judge by the end of the bake: fail closed.
        verdict = {
          ...verdict,
          pass: false,
          reason: `no traffic to judge: ${verdict.requests} requests (< ${opts.slo.minRequests}) on the new instances during the ${opts.bakeMs} ms bake (send traffic, or pass --allow-idle to accept an idle wave)`,
        };
      }
      if (!verdict.pass) {
        const breachAt = new Date().toISOString();
        const steps = this.rec.waves[i]!.steps?.map((s) => (s.percent === percent ? { ...s, verdict } : s));
        await this.setWave(i, { state: 'breached', verdict, ...(steps ? { steps } : {}) });
        await this.save({ breachAt });
        const what = idle && !opts.allowIdle ? 'idle bake' : 'SLO breach';
        const at = percent < 100 ? ` at ${percent}% of its traffic` : '';
        await this.rollback(`${what} in wave ${i} (${wave.cells.join(', ')})${at}: ${verdict.reason}`, 'rolled-back', Date.parse(breachAt));
        return undefined;
      }
      if (Date.now() >= end) return verdict;
    }
  }

  /**
   * Sum of the traffic of the cells' new-color instances (`fresh`) or their active instances: every
   * registered one, passing its checks or not (a check missed under load must not read as no traffic).
   */
  private async scrape(cells: string[], fresh: boolean): Promise<Traffic> {
    const parts: Traffic[] = [];
    for (const cell of cells) {
      const color = fresh ? this.newColor(cell) : await this.activeColor(cell);
      for (const url of await this.deps.cells.registeredInstances(cell, color)) {
        try {
          parts.push(trafficOf(parsePrometheus(await this.deps.cells.metrics(url))));
        } catch (err) {
          this.deps.log.warn({ cell, err: (err as Error).message }, 'metrics scrape failed');
        }
      }
    }
    return sum(parts);
  }

  private async activeColor(cell: string): Promise<'blue' | 'green' | undefined> {
    return (await this.deps.kv.getJson(CellRecordSchema, this.deps.layout.cellKey(cell)))?.value.activeColor;
  }

  private async waitPassing(cell: string, color: 'blue' | 'green'): Promise<void> {
    const deadline = Date.now() + this.deps.opts.stageTimeoutMs;
    while ((await this.deps.cells.instances(cell, color, this.rec.version)).length === 0) {
      if (Date.now() > deadline)
        throw new Error(`${cell} ${color} ${this.rec.version} not healthy in Consul after ${this.deps.opts.stageTimeoutMs} ms`);
      await sleep(100);
    }
  }

  /** Every touched cell back on its old color and version, then the new instances stopped. */
  private async rollback(report: string, state: 'rolled-back' | 'aborted' | 'failed', breachMs = Date.now()): Promise<RolloutRecord> {
    await this.save({ state: 'rolling-back', report });
    const cells = Object.keys(this.rec.previous).filter(
      (c) => this.touched.has(c) || this.rec.waves.some((w) => w.state === 'staging' && w.cells.includes(c)),
    );
    await Promise.all(
      cells.map(async (cell) => {
        const prev = this.rec.previous[cell]!;
        if (this.touched.has(cell))
          await this.setCell(cell, (c) => ({ ...withoutShift(c), activeColor: prev.color, version: prev.version }));
      }),
    );
    const rolledBackAt = new Date().toISOString();
    const rollbackMs = Date.now() - breachMs;
    await Promise.all(cells.map((cell) => this.deps.procs.stopCell(cell, this.newColor(cell)).catch(() => undefined)));
    await this.save({
      state,
      rolledBackAt,
      rollbackMs,
      waves: closeWaves(this.rec.waves),
      report: `${report}; ${cells.length ? `${cells.join(', ')} back on ${cells.map((c) => this.rec.previous[c]!.version).join(', ')} in ${rollbackMs} ms` : 'no cell was switched'}`,
    });
    this.deps.log.warn({ rollout: this.rec.id, report: this.rec.report }, `rollout ${this.rec.version} ${state}`);
    return this.rec;
  }
}
