/**
 * `evacuate <cell>`: drain the cell, then migrate every market off it, a few at a time, each to
 * the active cell least loaded for its capacity when load is measured, else the one with the most
 * room (the canary only when nothing else has room). Progress is
 * persisted in Consul at `<prefix>audit/evacuations/<cell>` (the evacuate action's own record
 * beside its audit entry, held with the control plane's session), so `GET
 * /admin/cells/:cell/evacuation` answers after a restart and a restarted control plane resumes
 * an evacuation its predecessor left running.
 */
import { z } from 'zod';
import { HttpError, NoCapacityError } from '../../shared/errors.js';
import { CellRecordSchema, MarketRecordSchema, type CellRecord, type KvLayout } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { Migrator } from '../migration/migrator.js';
import { TERMINAL } from '../migration/options.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import type { LoadReport } from '../placement/load.js';
import { Tally, planEvacuationByLoad } from '../placement/plan.js';

const MoveSchema = z.object({ market: z.string(), to: z.string() }).strict();

/** Progress of one evacuation, as stored in Consul. */
export const EvacuationSchema = z
  .object({
    cell: z.string(),
    state: z.enum(['running', 'done', 'failed']),
    total: z.number().int().nonnegative(),
    /** The plan as made at the start (a resumed evacuation re-picks the target of what is left). */
    plan: z.array(MoveSchema),
    concurrency: z.number().int().positive(),
    by: z.string(),
    moved: z.array(z.string()),
    failed: z.array(z.object({ market: z.string(), error: z.string() }).strict()),
    running: z.array(z.string()),
    startedAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().optional(),
    /** Control planes that ran it (a restart appends its id) and when it was last resumed. */
    owners: z.array(z.string()),
    resumedAt: z.string().optional(),
  })
  .strict();
/** Progress of one evacuation. */
export type Evacuation = z.infer<typeof EvacuationSchema>;

/**
 * Picks a target for each market: the active cell (not `from`) with the most free capacity.
 * Throws a {@link NoCapacityError} when a market has nowhere to go.
 */
export function planEvacuation(
  from: string,
  cells: CellRecord[],
  owned: Map<string, number>,
  markets: string[],
): { market: string; to: string }[] {
  const load = new Map(owned);
  const candidates = cells.filter((c) => c.id !== from && c.state === 'active');
  const plan: { market: string; to: string }[] = [];
  for (const market of markets) {
    const room = (c: CellRecord) => c.capacity - (load.get(c.id) ?? 0);
    const best = candidates
      .filter((c) => room(c) > 0)
      .sort((a, b) => Number(a.canary) - Number(b.canary) || room(b) - room(a) || a.id.localeCompare(b.id))[0];
    if (!best) throw new NoCapacityError(market);
    load.set(best.id, (load.get(best.id) ?? 0) + 1);
    plan.push({ market, to: best.id });
  }
  return plan;
}

/** Runs evacuations and keeps their progress in Consul. */
export class Evacuator {
  /** Evacuations this process runs (the freshest view; Consul has the same after each change). */
  readonly jobs = new Map<string, Evacuation>();
  private readonly writes = new Map<string, Promise<void>>();
  /** Measures the cells' load (control-plane/placement/load.ts): set, plans go by load; unset, by free market slots. */
  measure?: (windowMs: number) => Promise<LoadReport>;

  constructor(
    private readonly kv: KvStore,
    private readonly layout: KvLayout,
    private readonly migrator: Migrator,
    private readonly log: Logger,
    private readonly session: () => string,
    private readonly owner: string,
  ) {}

  /** The Consul key of `cell`'s evacuation record. */
  key(cell: string): string {
    return this.layout.evacuationKey(cell);
  }

  /** The plan for evacuating `cell` (throws when impossible). */
  async plan(cell: string): Promise<{ market: string; to: string }[]> {
    const cells = (await this.kv.listJson(CellRecordSchema, this.layout.cellsPrefix)).values.map((v) => v.value);
    const markets = (await this.kv.listJson(MarketRecordSchema, this.layout.marketsPrefix)).values;
    const owned = new Map<string, number>();
    for (const m of markets) owned.set(m.value.cell, (owned.get(m.value.cell) ?? 0) + 1);
    const mine = markets
      .filter((m) => m.value.cell === cell)
      .map((m) => this.layout.marketFromKey(m.key))
      .filter((m): m is string => m !== undefined)
      .sort();
    if (!this.measure) return planEvacuation(cell, cells, owned, mine);
    // By measured load: the heaviest markets first, each to the cell least loaded for its capacity.
    const report = await this.measure(2000);
    const loads = mine.map((market) => report.markets.find((m) => m.market === market) ?? { market, cell, rps: 0 });
    const others = report.markets.filter((m) => m.cell !== cell);
    const moves = planEvacuationByLoad(cell, new Tally(cells, [...loads, ...others]), loads, (m) => new NoCapacityError(m));
    return moves.map((m) => ({ market: m.market, to: m.to }));
  }

  /** `cell`'s evacuation: this process's live view, else the record in Consul. */
  async get(cell: string): Promise<Evacuation | undefined> {
    return this.jobs.get(cell) ?? (await this.kv.getJson(EvacuationSchema, this.key(cell)).catch(() => undefined))?.value;
  }

  /** Starts moving every market of `cell` away, `concurrency` at a time; resolves once the record is stored and held. */
  async start(cell: string, plan: { market: string; to: string }[], concurrency: number, by: string): Promise<Evacuation> {
    const now = new Date().toISOString();
    const job: Evacuation = {
      cell,
      state: 'running',
      total: plan.length,
      plan,
      concurrency: Math.max(1, concurrency),
      by,
      moved: [],
      failed: [],
      running: [],
      startedAt: now,
      updatedAt: now,
      owners: [this.owner],
    };
    if (!(await this.kv.putJson(EvacuationSchema, this.key(cell), job, { acquire: this.session() })))
      throw new HttpError('conflict', `the evacuation of ${cell} is held by another control plane`);
    this.run(job, [...plan]);
    return job;
  }

  /** Stores the job (writes of one job in order; a failed write is logged, the next one catches up). */
  private persist(job: Evacuation): Promise<void> {
    job.updatedAt = new Date().toISOString();
    const snapshot = structuredClone(job);
    const next = (this.writes.get(job.cell) ?? Promise.resolve())
      .then(async () => {
        const release = snapshot.state !== 'running';
        const opts = release ? { release: this.session() } : { acquire: this.session() };
        if (!(await this.kv.putJson(EvacuationSchema, this.key(job.cell), snapshot, opts)))
          this.log.warn({ cell: job.cell }, 'evacuation record is held by another control plane; not updated');
      })
      .catch((err: unknown) => this.log.warn({ cell: job.cell, err: (err as Error).message }, 'evacuation record write failed'));
    this.writes.set(job.cell, next);
    return next;
  }

  /** Works through `queue` with the job's concurrency, persisting every change. */
  private run(job: Evacuation, queue: { market: string; to: string }[]): void {
    this.jobs.set(job.cell, job);
    const worker = async () => {
      // A shutdown stops taking moves; the record stays `running` for the next control plane.
      for (let next = queue.shift(); next && !this.migrator.closed; next = queue.shift()) {
        const { market } = next;
        job.running.push(market);
        void this.persist(job);
        try {
          await this.moveOne(job.cell, next);
          job.moved.push(market);
        } catch (err) {
          if (!this.migrator.closed) job.failed.push({ market, error: (err as Error).message });
        } finally {
          job.running = job.running.filter((m) => m !== market);
          void this.persist(job);
        }
      }
    };
    void Promise.all(Array.from({ length: job.concurrency }, worker)).then(async () => {
      if (this.migrator.closed) {
        this.jobs.delete(job.cell);
        this.log.info(
          { cell: job.cell, moved: job.moved.length, total: job.total },
          'evacuation left for the next control plane to resume',
        );
        return;
      }
      job.state = job.failed.length ? 'failed' : 'done';
      job.finishedAt = new Date().toISOString();
      await this.persist(job);
      this.jobs.delete(job.cell);
      this.log.info({ evacuation: job }, `evacuation of ${job.cell} ${job.state}`);
    });
  }

  /** Moves one market off `cell` (or confirms that it already left, e.g. moved before a restart). */
  private async moveOne(cell: string, move: { market: string; to: string }): Promise<void> {
    const { market } = move;
    // A migration recovered after a restart finishes (or rolls back) first.
    const cur = await this.migrator.get(market);
    if (cur && !TERMINAL.has(cur.state)) await this.migrator.moved(market);
    const owner = await this.kv.getJson(MarketRecordSchema, this.layout.marketKey(market));
    if (!owner) throw new Error(`market ${market} disappeared`);
    if (owner.value.cell !== cell) return;
    await this.migrator.start(market, move.to, this.jobs.get(cell)?.by ?? 'evacuation');
    const rec = await this.migrator.moved(market);
    if (rec?.state === 'rolled-back' || rec?.state === 'failed') throw new Error(rec.error ?? rec.state);
  }

  /**
   * After a restart: resumes every evacuation left `running` whose record no live control plane
   * holds. Markets already moved count as moved; the others (including those whose migration the
   * crash rolled back) are moved again, each to the cell with the most room now.
   */
  async recover(): Promise<Evacuation[]> {
    const out: Evacuation[] = [];
    const { values } = await this.kv.listJson(EvacuationSchema, this.layout.evacuationsPrefix);
    for (const { value, item } of values) {
      if (value.state !== 'running' || this.jobs.has(value.cell)) continue;
      if (item.session && item.session !== this.session()) continue; // a live control plane runs it
      const job: Evacuation = {
        ...value,
        running: [],
        owners: [...value.owners, this.owner],
        resumedAt: new Date().toISOString(),
      };
      if (!(await this.kv.putJson(EvacuationSchema, this.key(job.cell), job, { acquire: this.session() }))) continue;
      const done = new Set([...job.moved, ...job.failed.map((f) => f.market)]);
      let queue = job.plan.filter((p) => !done.has(p.market));
      try {
        const fresh = new Map((await this.plan(job.cell)).map((p) => [p.market, p.to]));
        queue = queue.map((p) => ({ market: p.market, to: fresh.get(p.market) ?? p.to }));
      } catch (err) {
        this.log.warn({ cell: job.cell, err: (err as Error).message }, 'evacuation: keeping the original targets');
      }
      this.log.warn({ cell: job.cell, left: queue.length, moved: job.moved.length }, 'resuming an evacuation after a restart');
      this.run(job, queue);
      out.push(job);
    }
    return out;
  }

  /** True while an evacuation of `cell` runs here, or is recorded running in Consul. */
  async busy(cell: string): Promise<boolean> {
    return (await this.get(cell))?.state === 'running';
  }

  /** Resolves when `cell`'s evacuation run by this process ends (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.jobs.size > 0) await new Promise((r) => setTimeout(r, 50));
    await Promise.all([...this.writes.values()]);
  }
}
