/**
 * `evacuate <cell>`: drain the cell, then migrate every market off it, a few at a time, each to
 * the active cell with the most room (the canary only when nothing else has room). Progress is
 * kept in memory for `GET /admin/cells/:cell/evacuation`.
 */
import { CellRecordSchema, MarketRecordSchema, type CellRecord, type KvLayout } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { Migrator } from '../migration/migrator.js';
import type { KvStore } from './kv-store.js';

/** Progress of one evacuation. */
export interface Evacuation {
  cell: string;
  state: 'running' | 'done' | 'failed';
  total: number;
  moved: string[];
  failed: { market: string; error: string }[];
  running: string[];
  startedAt: string;
  finishedAt?: string;
}

/** Picks a target for each market: the active cell (not `from`) with the most free capacity. */
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
    if (!best) throw new Error(`no active cell has room for ${market}`);
    load.set(best.id, (load.get(best.id) ?? 0) + 1);
    plan.push({ market, to: best.id });
  }
  return plan;
}

/** Runs evacuations. */
export class Evacuator {
  readonly jobs = new Map<string, Evacuation>();

  constructor(
    private readonly kv: KvStore,
    private readonly layout: KvLayout,
    private readonly migrator: Migrator,
    private readonly log: Logger,
  ) {}

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
    return planEvacuation(cell, cells, owned, mine);
  }

  /** Starts moving every market of `cell` away, `concurrency` at a time. */
  start(cell: string, plan: { market: string; to: string }[], concurrency: number, by: string): Evacuation {
    const job: Evacuation = {
      cell,
      state: 'running',
      total: plan.length,
      moved: [],
      failed: [],
      running: [],
      startedAt: new Date().toISOString(),
    };
    this.jobs.set(cell, job);
    const queue = [...plan];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        job.running.push(next.market);
        try {
          await this.migrator.start(next.market, next.to, by);
          const rec = await this.migrator.moved(next.market);
          if (rec?.state === 'rolled-back' || rec?.state === 'failed') throw new Error(rec.error ?? rec.state);
          job.moved.push(next.market);
        } catch (err) {
          job.failed.push({ market: next.market, error: (err as Error).message });
        } finally {
          job.running = job.running.filter((m) => m !== next.market);
        }
      }
    };
    void Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker)).then(() => {
      job.state = job.failed.length ? 'failed' : 'done';
      job.finishedAt = new Date().toISOString();
      this.log.info({ evacuation: job }, `evacuation of ${cell} ${job.state}`);
    });
    return job;
  }

  /** A running evacuation of `cell`, if any. */
  busy(cell: string): boolean {
    return this.jobs.get(cell)?.state === 'running';
  }
}
