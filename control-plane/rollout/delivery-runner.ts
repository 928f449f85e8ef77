/**
 * A delivery rollout (`cellctl rollout <version> --role delivery`, docs/kafka.md §Rolling out the delivery service):
 * per wave, cell-0 first, each cell's delivery instances are replaced one at a time — a new
 * instance started, ready (a member of the consumer group) and passing in Consul with the version
 * before an old one stops, so the cell never runs fewer instances than it had — then baked: every
 * new instance passing, the group's lag on the orders topic within its bound, and enough order
 * events handled by the new version to judge it. A breach replaces every touched cell's instances
 * back the same way. The order service is never touched, so orders are accepted throughout. A
 * passed wave writes its cells' `deliveryVersion` (the version `cellctl up` starts their delivery
 * instances on); a rollback writes the old one back.
 */
import { deliveryIndex } from './delivery-names.js';
import { type CellRecord, type DeliveryVerdict, type KvLayout, type RolloutRecord } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import type { RolloutOptions } from './options.js';
import { closeWaves, RecordedRun } from './recorded-run.js';
import { parsePrometheus } from './prom.js';
import type { ChildStatus, DeliveryInstances } from './supervisor-client.js';

/** What a delivery rollout reads of the delivery instances. */
export interface DeliveryReads {
  /** Base URLs of the passing `cellsim-delivery` instances of a cell in Consul (of one version when given). */
  deliveryInstances(cell: string, version?: string): Promise<string[]>;
  /** The text of an instance's /metrics. */
  metrics(url: string): Promise<string>;
}

/** What replacing a cell's delivery instances needs. */
export interface ReplaceDeps {
  procs: DeliveryInstances;
  reads: DeliveryReads;
  /** Bound on a new instance passing in Consul (ms). */
  stageTimeoutMs: number;
}

/** What a delivery rollout run needs. */
export interface DeliveryRunnerDeps extends ReplaceDeps {
  kv: KvStore;
  layout: KvLayout;
  log: Logger;
  opts: RolloutOptions;
  aborted: () => boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A cell record saying its delivery service runs `version` (the same record when it says so
 * already: nothing to write). Written even when `version` is the cell's own, so a later rollout of
 * the cell's order service does not move it.
 */
export function withDeliveryVersion(c: CellRecord, version: string): CellRecord {
  return c.deliveryVersion === version ? c : { ...c, deliveryVersion: version };
}

/** A cell's delivery children, by instance number. */
export async function deliveryKids(procs: Pick<DeliveryInstances, 'children'>, cell: string): Promise<Map<number, ChildStatus>> {
  const kids = (await procs.children()).filter((k) => k.kind === 'delivery' && k.cell === cell);
  return new Map(kids.map((k) => [deliveryIndex(k.name), k]));
}

/**
 * Brings `cell` to delivery instances 1..`n` all running `version`: unless the cell already runs
 * more than `n`, a spare instance of the version is started first (one past the highest); then each
 * instance on another version is stopped and started again on the version, and the spare (with
 * anything past `n`) is stopped last, so the cell never runs fewer than `n`. `check` runs after
 * each start (it throws to stop the replacement). Every start waits until the instance passes in
 * Consul with the version. Nothing is done when every instance already runs it.
 */
export async function replaceDelivery(
  d: ReplaceDeps,
  cell: string,
  n: number,
  version: string,
  defect?: unknown,
  check: () => Promise<void> = async () => undefined,
): Promise<void> {
  let kids = await deliveryKids(d.procs, cell);
  for (let k = 1; k <= n; k++) {
    if (kids.get(k)?.version === version) continue;
    if (kids.has(k)) {
      if (kids.size <= n) {
        await startPassing(d, cell, Math.max(...kids.keys()) + 1, version, defect);
        await check();
        kids = await deliveryKids(d.procs, cell);
      }
      await d.procs.stopDelivery(cell, k);
    }
    await startPassing(d, cell, k, version, defect);
    await check();
    kids = await deliveryKids(d.procs, cell);
  }
  for (const k of [...kids.keys()].filter((i) => i > n).sort((a, b) => b - a)) await d.procs.stopDelivery(cell, k);
}

async function startPassing(d: ReplaceDeps, cell: string, k: number, version: string, defect?: unknown): Promise<void> {
  const child = await d.procs.startDelivery(cell, k, version, defect);
  const deadline = Date.now() + d.stageTimeoutMs;
  const port = String(child.port);
  while (!(await d.reads.deliveryInstances(cell, version)).some((u) => new URL(u).port === port)) {
    if (Date.now() > deadline) throw new Error(`${child.name} (${version}) not passing in Consul after ${d.stageTimeoutMs} ms`);
    await sleep(100);
  }
}

/** A cell's verdict that stops the rollout. */
class Breach extends Error {
  constructor(readonly verdict: DeliveryVerdict) {
    super(verdict.reason);
  }
}
class Aborted extends Error {}
/** Another cell of the wave breached or failed: this one stops where it is, to be rolled back. */
class Halted extends Error {}

/** One cell's figures while it is rolled out. */
interface CellWatch {
  cell: string;
  n: number;
  lag: { start: number; end: number; max: number };
  events: number;
  instances: number;
  /** Checks in a row that saw fewer than `n` new instances passing. */
  short: number;
}

/** Runs a delivery rollout record to its end. */
export class DeliveryRolloutRun extends RecordedRun {
  private readonly touched = new Set<string>();
  /** Each touched cell's delivery instance count before the rollout. */
  private readonly counts = new Map<string, number>();
  /** Set when a cell of the running wave breached or failed. */
  private halt = false;

  constructor(
    private readonly deps: DeliveryRunnerDeps,
    rec: RolloutRecord,
  ) {
    super(deps, rec);
  }

  /** Drives every wave; never throws (a failure rolls back and is recorded). */
  async run(): Promise<RolloutRecord> {
    try {
      for (let i = 0; i < this.rec.waves.length; i++) {
        if (this.deps.aborted()) return await this.rollback('aborted by operator', 'aborted');
        if (!(await this.wave(i))) return this.rec;
      }
      await this.save({
        state: 'succeeded',
        report: `${this.rec.version} runs on the delivery service of ${[...this.touched].join(', ')}`,
      });
      this.deps.log.info({ rollout: this.rec.id }, `delivery rollout ${this.rec.version} succeeded`);
    } catch (err) {
      await this.rollback(`failed: ${(err as Error).message}`, 'failed');
    }
    return this.rec;
  }

  /** Replaces, then bakes, every cell of wave `i` (the cells side by side); false once it rolled back. */
  private async wave(i: number): Promise<boolean> {
    const cells = this.rec.waves[i]!.cells;
    await this.setWave(i, { state: 'staging' });
    const watches = await this.settle(
      i,
      cells.map((cell) => this.replace(cell)),
    );
    if (!watches) return false;
    await this.setWave(i, { state: 'baking' });
    this.deps.log.info({ rollout: this.rec.id, wave: cells }, `wave ${i}: delivery of ${cells.join(', ')} on ${this.rec.version}; baking`);
    const verdicts = await this.settle(
      i,
      watches.map((w) => this.bake(w)),
    );
    if (!verdicts) return false;
    // Kept for the next `cellctl up` (topology/supervisor.ts starts delivery instances on it).
    for (const cell of cells) await this.setCell(cell, (c) => withDeliveryVersion(c, this.rec.version));
    await this.setWave(i, { state: 'passed', delivery: verdicts });
    return true;
  }

  /** Waits for every cell; on a breach, an abort or a failure, records it, rolls back and resolves undefined. */
  private async settle<T>(i: number, work: Promise<T>[]): Promise<T[] | undefined> {
    const results = await Promise.allSettled(
      work.map((p) =>
        p.catch((err: unknown) => {
          this.halt = true;
          throw err;
        }),
      ),
    );
    const failed =
      results.find(
        (r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof Halted) && !(r.reason instanceof Aborted),
      ) ?? results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return results.map((r) => (r as PromiseFulfilledResult<T>).value);
    const breaches = results.flatMap((r) => (r.status === 'rejected' && r.reason instanceof Breach ? [r.reason.verdict] : []));
    const judged = results.flatMap((r) => (r.status === 'fulfilled' && isVerdict(r.value) ? [r.value] : []));
    const cells = this.rec.waves[i]!.cells.join(', ');
    if (breaches.length) {
      const breachAt = new Date().toISOString();
      await this.setWave(i, { state: 'breached', delivery: [...judged, ...breaches] });
      await this.save({ breachAt });
      const what = breaches[0]!.reason.startsWith('no traffic') ? 'idle bake' : 'delivery verdict breached';
      await this.rollback(
        `${what} in wave ${i} (${cells}): ${breaches.map((b) => `${b.cell}: ${b.reason}`).join('; ')}`,
        'rolled-back',
        Date.parse(breachAt),
      );
    } else if (failed.reason instanceof Aborted) {
      await this.rollback('aborted by operator', 'aborted');
    } else {
      await this.rollback(`failed in wave ${i} (${cells}): ${(failed.reason as Error).message}`, 'failed');
    }
    return undefined;
  }

  /** Replaces a cell's delivery instances, judging the lag after each start. */
  private async replace(cell: string): Promise<CellWatch> {
    const kids = await deliveryKids(this.deps.procs, cell);
    if (kids.size === 0) throw new Error(`${cell} runs no delivery instances`);
    const n = this.rec.deliveryInstances?.[cell] ?? kids.size;
    this.counts.set(cell, n);
    this.touched.add(cell);
    const look = await this.look(cell);
    const lag = look.lag ?? 0;
    const w: CellWatch = { cell, n, lag: { start: lag, end: lag, max: lag }, events: 0, instances: 0, short: 0 };
    await replaceDelivery(this.deps, cell, w.n, this.rec.version, this.rec.defect, () => this.check(w, false));
    return w;
  }

  /** Bakes a cell's new instances for `bakeMs`, checking every `checkIntervalMs`; resolves with its verdict. */
  private async bake(w: CellWatch): Promise<DeliveryVerdict> {
    const { opts } = this.deps;
    const end = Date.now() + opts.bakeMs;
    for (;;) {
      await sleep(Math.min(opts.checkIntervalMs, Math.max(0, end - Date.now())));
      await this.check(w, true);
      if (Date.now() < end) continue;
      const idle = w.events < opts.slo.minRequests;
      if (idle && !opts.allowIdle)
        throw new Breach(
          this.verdict(
            w,
            false,
            `no traffic to judge: the new instances handled ${w.events} order events (< ${opts.slo.minRequests}) by the end of the ${opts.bakeMs} ms bake (send orders, or pass --allow-idle to accept an idle wave)`,
          ),
        );
      const figures = `${w.instances} of ${w.n} instances on ${this.rec.version} passing, lag ${w.lag.end} (highest ${w.lag.max}, bound ${opts.maxLag}), ${w.events} order events handled`;
      return this.verdict(w, true, idle ? `inconclusive (idle wave accepted): ${figures}` : figures);
    }
  }

  /**
   * One look at a cell: a breach when the group's lag is above `maxLag` and above where it stood
   * before the cell's first step, or (while baking) when fewer than all of its new instances pass
   * in Consul twice in a row.
   */
  private async check(w: CellWatch, baking: boolean): Promise<void> {
    if (this.deps.aborted()) throw new Aborted('aborted by operator');
    if (this.halt) throw new Halted('another cell of the wave stopped it');
    const look = await this.look(w.cell, this.rec.version);
    w.events = look.events;
    w.instances = look.instances;
    if (look.lag !== undefined) {
      w.lag.end = look.lag;
      w.lag.max = Math.max(w.lag.max, look.lag);
    }
    const { maxLag } = this.deps.opts;
    if (look.lag !== undefined && look.lag > maxLag && look.lag > w.lag.start)
      throw new Breach(
        this.verdict(w, false, `consumer lag ${look.lag} records, above the bound of ${maxLag} and the ${w.lag.start} before the rollout`),
      );
    w.short = baking && look.instances < w.n ? w.short + 1 : 0;
    if (w.short >= 2)
      throw new Breach(
        this.verdict(w, false, `${look.instances} of ${w.n} delivery instances on ${this.rec.version} pass their health check`),
      );
  }

  /** The passing instances of `version`, the events they handled, and the group's lag (undefined when no instance answered). */
  private async look(cell: string, version?: string): Promise<{ instances: number; events: number; lag: number | undefined }> {
    const { reads, log } = this.deps;
    const all = await reads.deliveryInstances(cell);
    const fresh = version ? await reads.deliveryInstances(cell, version) : [];
    let lag: number | undefined;
    let events = 0;
    for (const url of all) {
      try {
        const samples = parsePrometheus(await reads.metrics(url));
        const total = (name: string) => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
        lag = Math.max(lag ?? 0, total('cellsim_consumer_lag'));
        if (fresh.includes(url)) events += total('cellsim_consumer_events_total');
      } catch (err) {
        log.warn({ cell, url, err: (err as Error).message }, 'delivery metrics scrape failed');
      }
    }
    return { instances: fresh.length, events, lag };
  }

  private verdict(w: CellWatch, pass: boolean, reason: string): DeliveryVerdict {
    return { cell: w.cell, pass, reason, instances: w.instances, events: w.events, lag: { ...w.lag }, at: new Date().toISOString() };
  }

  /** Every touched cell's delivery instances replaced back to their old version (as many as before). */
  private async rollback(report: string, state: 'rolled-back' | 'aborted' | 'failed', breachMs = Date.now()): Promise<RolloutRecord> {
    await this.save({ state: 'rolling-back', report });
    const cells = [...this.touched];
    const results = await Promise.allSettled(
      cells.map(async (cell) => {
        const prev = this.rec.previous[cell]!.version;
        await replaceDelivery(this.deps, cell, this.counts.get(cell)!, prev);
        await this.setCell(cell, (c) => withDeliveryVersion(c, prev));
      }),
    );
    const stuck = cells.filter((_, j) => results[j]!.status === 'rejected');
    for (const [j, r] of results.entries())
      if (r.status === 'rejected') this.deps.log.error({ cell: cells[j], err: (r.reason as Error).message }, 'delivery rollback failed');
    const rolledBackAt = new Date().toISOString();
    const rollbackMs = Date.now() - breachMs;
    const back = cells.filter((c) => !stuck.includes(c));
    await this.save({
      state: stuck.length ? 'failed' : state,
      rolledBackAt,
      rollbackMs,
      waves: closeWaves(this.rec.waves),
      report:
        `${report}; ` +
        (back.length
          ? `delivery of ${back.join(', ')} back on ${back.map((c) => this.rec.previous[c]!.version).join(', ')} in ${rollbackMs} ms`
          : 'no cell was touched') +
        (stuck.length ? `; NOT rolled back: ${stuck.join(', ')} (see the control plane log)` : ''),
    });
    this.deps.log.warn({ rollout: this.rec.id, report: this.rec.report }, `delivery rollout ${this.rec.version} ${this.rec.state}`);
    return this.rec;
  }
}

function isVerdict(v: unknown): v is DeliveryVerdict {
  return typeof v === 'object' && v !== null && 'pass' in v && 'cell' in v;
}
