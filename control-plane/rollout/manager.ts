/**
 * Starts, aborts, lists and recovers rollouts. One rollout at a time, held by a session lock
 * on `<prefix>locks/rollout`; the record of each lives in `<prefix>rollouts/<id>`.
 */
import { CellRecordSchema, RolloutRecordSchema, type KvLayout, type RolloutRecord } from '../../shared/kv.js';
import { HttpError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import type { HttpCellAdmin } from '../migration/cell-client.js';
import { planWaves, rolloutOptions, type RolloutOptions } from './options.js';
import { RolloutRun, withoutShift } from './runner.js';
import { closeWaves, updateCell } from './recorded-run.js';
import type { CellProcesses, ChildStatus, DeliveryInstances } from './supervisor-client.js';
import { DefectSchema } from '../../shared/defect.js';
import { DeliveryRolloutRun, deliveryKids, replaceDelivery, withDeliveryVersion, type DeliveryReads } from './delivery-runner.js';

/** A rollout request, as the admin API receives it. */
export interface RolloutRequest {
  version: string;
  defect?: unknown;
  bakeMs?: number;
  /** Ms at the start of each bake not judged. */
  warmupMs?: number;
  waveSizes?: number[];
  /** Accept waves whose bake saw too little traffic to judge. */
  allowIdle?: boolean;
  /** Weighted steps before each wave's full switch (percent of its traffic to the new color). */
  steps?: number[];
  /** `delivery`: a split cell's delivery instances instead of the cell's instances (docs/kafka.md §Rolling out the delivery service). */
  role?: 'delivery';
  /** A delivery rollout's bound on the consumer group's lag (records). */
  maxLag?: number;
  by: string;
}

/** How a control plane reaches split cells' delivery instances (for delivery rollouts). */
export interface DeliveryRolloutDeps {
  procs: () => DeliveryInstances | undefined;
  reads: DeliveryReads;
}

/** The rollout service of one control plane. */
export class RolloutManager {
  private current: { run: RolloutRun | DeliveryRolloutRun; done: Promise<RolloutRecord>; aborted: boolean } | undefined;

  constructor(
    private readonly kv: KvStore,
    private readonly layout: KvLayout,
    private readonly procs: () => CellProcesses | undefined,
    private readonly cells: Pick<HttpCellAdmin, 'instances' | 'registeredInstances' | 'metrics'>,
    private readonly session: () => string,
    private readonly log: Logger,
    private readonly defaults: Partial<RolloutOptions> = {},
    private readonly delivery?: DeliveryRolloutDeps,
  ) {}

  private get lockKey(): string {
    return `${this.layout.prefix}locks/rollout`;
  }

  /** Validates and builds the record of a rollout, without starting it. */
  async plan(req: RolloutRequest): Promise<{ record: RolloutRecord; opts: RolloutOptions }> {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(req.version)) throw new HttpError('invalid_request', `'${req.version}' is not a version name`);
    const defect = req.defect === undefined ? undefined : DefectSchema.safeParse(req.defect);
    if (defect && !defect.success)
      throw new HttpError('invalid_request', `invalid defect: ${defect.error.issues.map((i) => i.message).join('; ')}`);
    const opts = rolloutOptions({
      ...this.defaults,
      ...(req.bakeMs !== undefined ? { bakeMs: req.bakeMs } : {}),
      ...(req.warmupMs !== undefined ? { warmupMs: req.warmupMs } : {}),
      ...(req.waveSizes ? { waveSizes: req.waveSizes } : {}),
      ...(req.allowIdle !== undefined ? { allowIdle: req.allowIdle } : {}),
      ...(req.steps ? { steps: req.steps } : {}),
      ...(req.maxLag !== undefined ? { maxLag: req.maxLag } : {}),
    });
    if (req.role === 'delivery' && req.steps?.length)
      throw new HttpError('invalid_request', 'a delivery rollout has no weighted steps: its instances are replaced one at a time');
    if (req.role !== 'delivery' && req.maxLag !== undefined)
      throw new HttpError('invalid_request', 'maxLag is for a delivery rollout (role: delivery)');
    if (opts.steps.some((p, i) => !(p > 0 && p < 100) || (i > 0 && p <= opts.steps[i - 1]!))) {
      throw new HttpError('invalid_request', `steps must rise, each above 0 and below 100 (percent): ${opts.steps.join(', ')}`);
    }
    const live = (await this.kv.listJson(CellRecordSchema, this.layout.cellsPrefix)).values
      .map((v) => v.value)
      .filter((c) => c.state !== 'down');
    if (!live.some((c) => c.canary)) throw new HttpError('conflict', 'no canary cell (cells/<id>.canary) to start the rollout on');
    const versions = req.role === 'delivery' ? await this.deliveryVersions(live.map((c) => c.id)) : undefined;
    // A delivery rollout replaces split cells' delivery instances only: the canary first when it is
    // split, else the first split cell (docs/kafka.md §Rolling out the delivery service).
    const cells = versions ? live.filter((c) => versions.has(c.id)) : live;
    const canary = cells.find((c) => c.canary) ?? [...cells].sort((a, b) => (a.id < b.id ? -1 : 1))[0]!;
    if (versions && cells.every((c) => versions.get(c.id)?.version === req.version))
      throw new HttpError('conflict', `every cell's delivery service already runs ${req.version}`);
    if (!versions && cells.every((c) => c.version === req.version))
      throw new HttpError('conflict', `every cell already runs ${req.version}`);
    const others = cells
      .filter((c) => c.id !== canary.id)
      .map((c) => c.id)
      .sort();
    const now = new Date().toISOString();
    const record: RolloutRecord = {
      id: `ro-${Date.now().toString(36)}-${req.version.replace(/[^a-z0-9-]/g, '-')}`.slice(0, 63),
      version: req.version,
      ...(defect?.success ? { defect: defect.data } : {}),
      state: 'running',
      ...(versions
        ? {
            role: 'delivery' as const,
            maxLag: opts.maxLag,
            deliveryInstances: Object.fromEntries([...versions].map(([cell, v]) => [cell, v.instances])),
          }
        : {}),
      previous: Object.fromEntries(
        cells.map((c) => [c.id, { version: versions?.get(c.id)?.version ?? c.version, color: c.activeColor ?? 'blue' }]),
      ),
      waves: planWaves(canary.id, others, opts.waveSizes).map((w) => ({ cells: w, state: 'pending' as const })),
      bakeMs: opts.bakeMs,
      ...(opts.warmupMs > 0 ? { warmupMs: opts.warmupMs } : {}),
      ...(opts.steps.length ? { steps: opts.steps } : {}),
      ...(opts.allowIdle ? { allowIdle: true } : {}),
      by: req.by,
      startedAt: now,
      updatedAt: now,
    };
    return { record, opts };
  }

  /** Starts a rollout in the background; refused while another runs. */
  async start(req: RolloutRequest): Promise<RolloutRecord> {
    if (this.current)
      throw new HttpError('conflict', `rollout ${this.current.run.record.id} (${this.current.run.record.version}) is running`);
    const { record, opts } = await this.plan(req);
    const procs = this.procs();
    const deliveryProcs = this.delivery?.procs();
    if (!procs || (record.role === 'delivery' && !deliveryProcs))
      throw new HttpError('conflict', 'this control plane has no process supervisor to start cells with (run it under cellctl up)');
    if (!(await this.kv.put(this.lockKey, record.id, { acquire: this.session() }))) {
      throw new HttpError('conflict', 'another control plane is running a rollout');
    }
    await this.kv.putJson(RolloutRecordSchema, this.layout.rolloutKey(record.id), record);
    const state = { aborted: false } as { run: RolloutRun | DeliveryRolloutRun; done: Promise<RolloutRecord>; aborted: boolean };
    const common = { kv: this.kv, layout: this.layout, log: this.log, opts, aborted: () => state.aborted };
    state.run =
      record.role === 'delivery'
        ? new DeliveryRolloutRun(
            { ...common, procs: deliveryProcs!, reads: this.delivery!.reads, stageTimeoutMs: opts.stageTimeoutMs },
            record,
          )
        : new RolloutRun({ ...common, procs, cells: this.cells }, record);
    state.done = state.run.run().finally(async () => {
      this.current = undefined;
      await this.kv.put(this.lockKey, '', { release: this.session() }).catch(() => undefined);
    });
    this.current = state;
    return record;
  }

  /**
   * The version each split cell's delivery instances run (read from the supervisor), cells that run
   * as one process left out: `409 conflict` without a supervisor, or when no cell is split.
   */
  private async deliveryVersions(cells: string[]): Promise<Map<string, { version: string; instances: number }>> {
    const procs = this.delivery?.procs();
    if (!procs)
      throw new HttpError(
        'conflict',
        'this control plane has no process supervisor to run delivery instances with (run it under cellctl up)',
      );
    const out = new Map<string, { version: string; instances: number }>();
    for (const cell of cells) {
      const kids = [...(await deliveryKids(procs, cell)).values()];
      const version = kids.find((k) => k.version)?.version;
      if (version) out.set(cell, { version, instances: kids.length });
    }
    if (out.size === 0)
      throw new HttpError(
        'conflict',
        'no cell is split into order and delivery services (each runs as one process: --log sqlite, or left out of --split-cells): there is no delivery service to roll out',
      );
    return out;
  }

  /** Asks the running rollout to stop and roll back. */
  async abort(): Promise<RolloutRecord> {
    const current = this.runningOr409();
    current.aborted = true;
    return current.run.record;
  }

  /** The running rollout, which an abort would stop; `409 conflict` when none runs (the dry run of an abort). */
  async abortable(): Promise<RolloutRecord> {
    return this.runningOr409().run.record;
  }

  private runningOr409() {
    if (!this.current) throw new HttpError('conflict', 'no rollout is running');
    return this.current;
  }

  /** Resolves when the running rollout (if any) ends. */
  async wait(): Promise<RolloutRecord | undefined> {
    return this.current?.done;
  }

  /** One rollout record. */
  async get(id: string): Promise<RolloutRecord | undefined> {
    return (await this.kv.getJson(RolloutRecordSchema, this.layout.rolloutKey(id)).catch(() => undefined))?.value;
  }

  /** Every rollout, newest first. */
  async list(): Promise<RolloutRecord[]> {
    const { values } = await this.kv.listJson(RolloutRecordSchema, this.layout.rolloutsPrefix);
    return values.map((v) => v.value).sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1));
  }

  /** The running rollout's record, if any. */
  running(): RolloutRecord | undefined {
    return this.current?.run.record;
  }

  /**
   * Puts one cell back on the version it ran before the latest rollout that changed it: starts
   * that version on the idle color, switches to it, stops the other color.
   */
  async rollbackCell(cell: string): Promise<{ cell: string; from: string; to: string; color: 'blue' | 'green' }> {
    const procs = this.procs();
    if (!procs) throw new HttpError('conflict', 'this control plane has no process supervisor to start cells with');
    if (this.current) throw new HttpError('conflict', `rollout ${this.current.run.record.id} is running: use 'cellctl rollout --abort'`);
    const cur = await this.kv.getJson(CellRecordSchema, this.layout.cellKey(cell)).catch(() => undefined);
    if (!cur) throw new HttpError('not_found', `unknown cell '${cell}'`);
    const last = (await this.list()).find(
      (r) => r.state === 'succeeded' && r.role === undefined && r.previous[cell] && r.version === cur.value.version,
    );
    const prev = last?.previous[cell];
    if (!prev || prev.version === cur.value.version)
      throw new HttpError('conflict', `cell ${cell} runs ${cur.value.version}; no earlier version to roll back to`);
    const live = cur.value.activeColor ?? 'blue';
    const idle = live === 'blue' ? 'green' : 'blue';
    await procs.startCell(cell, idle, prev.version);
    const deadline = Date.now() + 60_000;
    while ((await this.cells.instances(cell, idle, prev.version)).length === 0) {
      if (Date.now() > deadline) throw new HttpError('internal', `${cell} ${prev.version} did not become healthy`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const ok = await this.kv.putJson(
      CellRecordSchema,
      this.layout.cellKey(cell),
      { ...cur.value, activeColor: idle, version: prev.version },
      { cas: cur.item.modifyIndex },
    );
    if (!ok) throw new HttpError('conflict', `cell ${cell} changed meanwhile; retry`);
    await procs.stopCell(cell, live);
    return { cell, from: cur.value.version, to: prev.version, color: idle };
  }

  /** A rollout of the cells cut by a restart: each cell showing its version back on its previous color and version. */
  private async recoverCells(rec: RolloutRecord): Promise<string[]> {
    const back: string[] = [];
    for (const [cell, prev] of Object.entries(rec.previous)) {
      const cur = await this.kv.getJson(CellRecordSchema, this.layout.cellKey(cell)).catch(() => undefined);
      // A cell on the new version, or part-way through a weighted step (its version still the old one).
      if (cur && ((cur.value.version === rec.version && cur.value.version !== prev.version) || cur.value.shift)) {
        await this.kv.putJson(
          CellRecordSchema,
          this.layout.cellKey(cell),
          { ...withoutShift(cur.value), activeColor: prev.color, version: prev.version },
          { cas: cur.item.modifyIndex },
        );
        back.push(`${cell} back on ${prev.version}`);
      }
      const procs = this.procs();
      if (procs) await procs.stopCell(cell, prev.color === 'blue' ? 'green' : 'blue').catch(() => undefined);
    }
    return back;
  }

  /**
   * A delivery rollout cut by a restart: every cell with a delivery instance on the rollout's
   * version has its instances replaced back to the previous version, as many as it runs, and a
   * cell record whose `deliveryVersion` the rollout wrote (its wave had passed) gets the previous
   * one back.
   */
  private async recoverDelivery(rec: RolloutRecord): Promise<string[]> {
    const procs = this.delivery?.procs();
    if (!procs) return [];
    const back: string[] = [];
    for (const [cell, prev] of Object.entries(rec.previous)) {
      if (prev.version === rec.version) continue;
      const kids = [...(await deliveryKids(procs, cell).catch(() => new Map<number, ChildStatus>())).values()];
      if (kids.some((k) => k.version === rec.version)) {
        const n = rec.deliveryInstances?.[cell] ?? kids.length;
        await replaceDelivery(
          { procs, reads: this.delivery!.reads, stageTimeoutMs: rolloutOptions(this.defaults).stageTimeoutMs },
          cell,
          n,
          prev.version,
        );
        back.push(`delivery of ${cell} back on ${prev.version}`);
      }
      await updateCell({ kv: this.kv, layout: this.layout }, cell, (c) =>
        c.deliveryVersion === rec.version ? withDeliveryVersion(c, prev.version) : c,
      ).catch((err: unknown) => this.log.warn({ cell, err: (err as Error).message }, 'delivery version of the cell record not put back'));
    }
    return back;
  }

  /**
   * After a restart: a rollout left `running` (its control plane died) is rolled back — every
   * cell whose record shows the rollout's version goes back to its previous color and version —
   * rather than resumed: the bake that was cut short judged nothing (its SLO baseline, the
   * metrics scraped at the switch, died with the process, and a breach during the outage went
   * unseen), so the safe state is the last known-good version; the operator runs the rollout
   * again. The record's report says where it stopped and what was switched back.
   */
  async recover(): Promise<RolloutRecord[]> {
    const out: RolloutRecord[] = [];
    const lock = await this.kv.get(this.lockKey);
    if (lock?.session && lock.session !== this.session()) return out; // a live control plane runs it
    for (const rec of await this.list()) {
      if (rec.state !== 'running' && rec.state !== 'rolling-back') continue;
      const back = rec.role === 'delivery' ? await this.recoverDelivery(rec) : await this.recoverCells(rec);
      const i = rec.waves.findIndex((w) => w.state === 'staging' || w.state === 'baking');
      const where =
        rec.state === 'rolling-back'
          ? 'while rolling back'
          : i >= 0
            ? `during wave ${i} (${rec.waves[i]!.cells.join(', ')}, ${rec.waves[i]!.state})`
            : 'between waves';
      const now = new Date().toISOString();
      const next: RolloutRecord = {
        ...rec,
        state: 'rolled-back',
        updatedAt: now,
        rolledBackAt: now,
        waves: closeWaves(rec.waves),
        report:
          `control plane restarted ${where}; rolled back, not resumed: a bake cut short proves nothing (its SLO baseline died ` +
          `with the process) (${back.length ? back.join(', ') : 'no cell was switched'}); run 'cellctl rollout ${rec.version}' again` +
          (rec.report ? ` [before the restart: ${rec.report}]` : ''),
      };
      await this.kv.putJson(RolloutRecordSchema, this.layout.rolloutKey(rec.id), next);
      this.log.warn({ rollout: rec.id, report: next.report }, `rollout ${rec.version} rolled back after a restart`);
      out.push(next);
    }
    return out;
  }
}
