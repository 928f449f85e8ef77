/**
 * What every rollout run shares: its record in Consul (`cellsim/rollouts/<id>`, docs/contracts.md
 * §Consul keys), written whole on each change, how a rollback closes the record's waves, and the
 * check-and-set update of a cell record. The cell rollout (runner.ts) and the delivery rollout
 * (delivery-runner.ts) extend it.
 */
import { CellRecordSchema, RolloutRecordSchema, type CellRecord, type KvLayout, type RolloutRecord } from '../../shared/kv.js';
import type { KvStore } from '../../shared/consul/kv-store.js';

/**
 * Check-and-set update of `cellsim/cells/<cell>` (retried when it changed meanwhile); a `change`
 * that answers the record it was given writes nothing.
 */
export async function updateCell(
  store: { kv: KvStore; layout: KvLayout },
  cell: string,
  change: (c: CellRecord) => CellRecord,
): Promise<void> {
  const { kv, layout } = store;
  for (let attempt = 0; attempt < 5; attempt++) {
    const cur = await kv.getJson(CellRecordSchema, layout.cellKey(cell));
    if (!cur) throw new Error(`cell ${cell} disappeared from Consul`);
    const next = change(cur.value);
    if (next === cur.value) return;
    if (await kv.putJson(CellRecordSchema, layout.cellKey(cell), next, { cas: cur.item.modifyIndex })) return;
  }
  throw new Error(`cell ${cell} kept changing under the rollout`);
}

type Wave = RolloutRecord['waves'][number];

/** A rollback's waves: a pending one is skipped, one staging or baking is rolled back, the rest stay. */
export function closeWaves(waves: readonly Wave[]): Wave[] {
  return waves.map((w) =>
    w.state === 'pending' ? { ...w, state: 'skipped' } : w.state === 'baking' || w.state === 'staging' ? { ...w, state: 'rolled-back' } : w,
  );
}

/** A run that keeps its rollout record: the latest copy in memory, every change written to Consul. */
export abstract class RecordedRun {
  protected rec: RolloutRecord;

  constructor(
    private readonly store: { kv: KvStore; layout: KvLayout },
    rec: RolloutRecord,
  ) {
    this.rec = rec;
  }

  get record(): RolloutRecord {
    return this.rec;
  }

  protected async save(patch: Partial<RolloutRecord>): Promise<void> {
    this.rec = { ...this.rec, ...patch, updatedAt: new Date().toISOString() };
    await this.store.kv.putJson(RolloutRecordSchema, this.store.layout.rolloutKey(this.rec.id), this.rec);
  }

  /** CAS-updates a cell record ({@link updateCell}). */
  protected async setCell(cell: string, change: (c: CellRecord) => CellRecord): Promise<void> {
    await updateCell(this.store, cell, change);
  }

  protected async setWave(i: number, patch: Partial<Wave>): Promise<void> {
    await this.save({ waves: this.rec.waves.map((w, j) => (j === i ? { ...w, ...patch } : w)) });
  }
}
