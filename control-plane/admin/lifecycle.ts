/**
 * The cell lifecycle (`cellctl cells add|retire`, docs/operators.md §Adding and retiring cells).
 * Adding writes the cell's record and, under a supervisor, starts the cell and makes it active once
 * it passes its Consul check; without one it answers the command line to run. Retiring is refused
 * while the cell owns markets or work involving it runs; then its processes, its Consul
 * registrations and its record go.
 */
import { SERVICE_CELL } from '../../shared/consul.js';
import type { ConsulClient } from '../../shared/consul/client.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import { HttpError } from '../../shared/errors.js';
import { CellRecordSchema, MarketRecordSchema, type CellRecord, type KvLayout } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { Migrator } from '../migration/migrator.js';
import { TERMINAL } from '../migration/options.js';
import type { RolloutManager } from '../rollout/manager.js';
import type { CellLifecycleProcesses, ChildStatus } from '../rollout/supervisor-client.js';
import type { Evacuator } from './evacuation.js';

/** The capacity (in markets) of an added cell when `--capacity` is not given: that of the seeded cells. */
export const DEFAULT_CELL_CAPACITY = 40;

/** What the lifecycle reads and drives. */
export interface LifecycleDeps {
  kv: KvStore;
  layout: KvLayout;
  consul: ConsulClient;
  migrator: Pick<Migrator, 'list'>;
  rollouts: Pick<RolloutManager, 'running'>;
  evacuator: Pick<Evacuator, 'busy'>;
  /** The `cellctl up` supervisor, when there is one. */
  procs: () => CellLifecycleProcesses | undefined;
  /** For the command line printed when there is no supervisor. */
  consulUrl: string;
  prefix: string;
  dataDir?: string;
  log: Logger;
  /** How long an added cell has to pass its Consul check (default 30 s). */
  passingTimeoutMs?: number;
}

/** The outcome of an add. */
export interface Added {
  record: CellRecord;
  /** True when a supervisor started it and it passed its check. */
  started: boolean;
  instance?: ChildStatus;
  /** Without a supervisor: the command line that starts the cell. */
  run?: string;
  /** From the add to the cell's first passing check (ms). */
  passingAfterMs?: number;
}

/** Why a cell cannot be retired now, or nothing. */
export interface RetireCheck {
  markets: string[];
  /** Work involving the cell that is still running (migrations, an evacuation, a rollout). */
  busy: string[];
}

/** The version most cells run (the canary's only when it is alone): what an added cell runs by default. */
export function commonVersion(cells: CellRecord[]): string | undefined {
  const pool = cells.some((c) => !c.canary) ? cells.filter((c) => !c.canary) : cells;
  const counts = new Map<string, number>();
  for (const c of pool) counts.set(c.version, (counts.get(c.version) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
}

/** Adds and retires cells. */
export class CellLifecycle {
  constructor(private readonly d: LifecycleDeps) {}

  /** True when a supervisor starts and stops the cells' processes. */
  supervised(): boolean {
    return this.d.procs() !== undefined;
  }

  private async cells(): Promise<CellRecord[]> {
    return (await this.d.kv.listJson(CellRecordSchema, this.d.layout.cellsPrefix)).values.map((v) => v.value);
  }

  /** The record an add would write: `409 conflict` when the cell exists. */
  async planAdd(id: string, o: { capacity?: number; version?: string }): Promise<CellRecord> {
    const cells = await this.cells();
    if (cells.some((c) => c.id === id)) throw new HttpError('conflict', `cell ${id} exists`);
    const version = o.version ?? commonVersion(cells) ?? 'v1';
    return {
      id,
      state: 'active',
      canary: false,
      global: false,
      capacity: o.capacity ?? DEFAULT_CELL_CAPACITY,
      version,
      activeColor: 'blue',
    };
  }

  /**
   * Writes the record and starts the cell. Under a supervisor the record is written `draining`
   * (no market may go to it yet), the cell started, and the record made `active` once an instance
   * passes its Consul check; a failure removes what was made. Without one it is written `active`.
   */
  async add(record: CellRecord): Promise<Added> {
    const key = this.d.layout.cellKey(record.id);
    const procs = this.d.procs();
    if (!procs) {
      if (!(await this.d.kv.putJson(CellRecordSchema, key, record, { cas: 0 })))
        throw new HttpError('conflict', `cell ${record.id} exists`);
      return { record, started: false, run: this.runHint(record) };
    }
    const t0 = Date.now();
    if (!(await this.d.kv.putJson(CellRecordSchema, key, { ...record, state: 'draining' }, { cas: 0 })))
      throw new HttpError('conflict', `cell ${record.id} exists`);
    try {
      const instance = await procs.addCell(record.id, record.version).catch((err: Error) => {
        // The supervisor's own refusals pass on as they are; anything else (no answer in time) says so.
        if (err instanceof HttpError) throw err;
        throw new HttpError('cell_start_failed', `${record.id} did not start: the supervisor: ${err.message}`);
      });
      await this.waitPassing(record.id);
      const cur = await this.d.kv.getJson(CellRecordSchema, key);
      if (!cur || !(await this.d.kv.putJson(CellRecordSchema, key, record, { cas: cur.item.modifyIndex })))
        throw new HttpError('conflict', `cell ${record.id} changed while it started`);
      return { record, started: true, instance, passingAfterMs: Date.now() - t0 };
    } catch (err) {
      this.d.log.warn({ cell: record.id, err: (err as Error).message }, 'added cell did not come up; removing it');
      await procs.removeCell(record.id).catch(() => undefined);
      await this.d.kv.delete(key).catch(() => undefined);
      throw err;
    }
  }

  private async waitPassing(cell: string): Promise<void> {
    const deadline = Date.now() + (this.d.passingTimeoutMs ?? 30_000);
    for (;;) {
      const { value } = await this.d.consul.health.service(SERVICE_CELL, { passing: true, timeoutMs: 3000 });
      if (value.some((e) => e.Service.Meta?.cell === cell)) return;
      if (Date.now() > deadline)
        throw new HttpError(
          'cell_start_failed',
          `${cell} started but did not pass its Consul check within ${Math.round((this.d.passingTimeoutMs ?? 30_000) / 1000)} s`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private runHint(r: CellRecord): string {
    const data = this.d.dataDir ?? '<data>';
    return [
      `cellctl cell --id ${r.id} --version ${r.version} --color blue --port <free port>`,
      `--data ${data}/cells/${r.id} --consul ${this.d.consulUrl} --prefix ${this.d.prefix}`,
      `--cell-admin-token-file ${data}/tokens/cell-admin`,
    ].join(' ');
  }

  /** What keeps `cell` from being retired: `409 conflict` for the canary or the global cell. */
  async checkRetire(cell: CellRecord): Promise<RetireCheck> {
    if (cell.canary) throw new HttpError('conflict', `${cell.id} is the canary cell: rollouts need it, it cannot be retired`);
    if (cell.global) throw new HttpError('conflict', `${cell.id} serves /v1/global/: it cannot be retired`);
    const markets = (await this.d.kv.listJson(MarketRecordSchema, this.d.layout.marketsPrefix)).values
      .filter((m) => m.value.cell === cell.id)
      .map((m) => this.d.layout.marketFromKey(m.key) ?? m.key)
      .sort();
    const busy = (await this.d.migrator.list())
      .filter((m) => !TERMINAL.has(m.state) && (m.from === cell.id || m.to === cell.id))
      .map((m) => `migration of ${m.market} (${m.state})`);
    if (await this.d.evacuator.busy(cell.id)) busy.push(`evacuation of ${cell.id}`);
    const rollout = this.d.rollouts.running();
    if (rollout && (rollout.waves.some((w) => w.cells.includes(cell.id)) || cell.id in rollout.previous))
      busy.push(`rollout ${rollout.id}`);
    return { markets, busy };
  }

  /**
   * Removes `cell`: drains its record (CAS), checks again that it owns no market, stops its
   * processes through the supervisor, deregisters its instances left in Consul and deletes its record.
   */
  async retire(cell: CellRecord, modifyIndex: number): Promise<{ stopped: boolean; deregistered: string[] }> {
    const key = this.d.layout.cellKey(cell.id);
    if (
      cell.state !== 'draining' &&
      !(await this.d.kv.putJson(CellRecordSchema, key, { ...cell, state: 'draining' }, { cas: modifyIndex }))
    )
      throw new HttpError('conflict', `cell ${cell.id} changed meanwhile; retry`);
    const again = await this.checkRetire(cell);
    if (again.markets.length) throw new HttpError('cell_not_empty', `cell ${cell.id} took markets meanwhile: ${again.markets.join(', ')}`);
    const procs = this.d.procs();
    // The supervisor's own refusals pass on as they are (its `cell_stop_failed` names the step that
    // failed); anything else (no answer) says so. The record stays, draining.
    if (procs)
      await procs.removeCell(cell.id).catch((err: Error) => {
        if (err instanceof HttpError) throw err;
        throw new HttpError('cell_stop_failed', `${cell.id} did not stop: the supervisor: ${err.message}; its record stays, draining`);
      });
    const { value } = await this.d.consul.health.service(SERVICE_CELL, { timeoutMs: 3000 });
    const deregistered: string[] = [];
    for (const e of value.filter((x) => x.Service.Meta?.cell === cell.id)) {
      // Best effort: a registration left behind goes critical and Consul drops it after a minute.
      await this.d.consul.agent.deregister(e.Service.ID, { timeoutMs: 3000 }).then(
        () => deregistered.push(e.Service.ID),
        (err: unknown) => this.d.log.warn({ cell: cell.id, serviceId: e.Service.ID, err: (err as Error).message }, 'deregistration failed'),
      );
    }
    await this.d.kv.delete(key);
    return { stopped: procs !== undefined, deregistered };
  }
}
