/**
 * Starts, aborts, lists and recovers migrations. `start` validates (market known and active,
 * target known, active, not the source, under capacity, both cells healthy), takes the
 * market's lock (the migration record, acquired with the control plane's session) and runs
 * the state machine in the background. `recover` picks up unfinished records after a restart.
 */
import { randomBytes } from 'node:crypto';
import { CellRecordSchema, MarketRecordSchema, MigrationRecordSchema, type KvLayout, type MigrationRecord } from '../../shared/kv.js';
import { HttpError } from '../../shared/errors.js';
import { isMarketId } from '../../shared/market.js';
import { experimentThreshold } from '../../shared/experiment.js';
import type { Logger } from '../../shared/logger.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import type { CellAdmin } from './cell-client.js';
import { LostLockError, MigrationRun } from './machine.js';
import { BEFORE_FLIP, TERMINAL, migrationOptions, type MigrationOptions } from './options.js';

/** What `plan` returns: the checked move, without doing it. */
export interface MigrationPlan {
  market: string;
  from: string;
  to: string;
  epoch: number;
  /** Both cells run split into order and delivery services: the delivery service's rows move too. */
  split: boolean;
  steps: string[];
  /** A move by share: its steps (percent of the keyed requests on the target) and key header. */
  share?: ShareSteps;
}

/** What `cellctl migrate --steps --header` asks (docs/weighted-shifts.md §Market moves by share). */
export interface ShareSteps {
  steps: number[];
  header: string;
  /** How long each step holds before the next (ms). */
  bakeMs?: number;
}

/** The migration service of one control plane. */
export class Migrator {
  readonly opts: MigrationOptions;
  private readonly running = new Map<string, Promise<MigrationRecord>>();
  private readonly aborts = new Set<string>();
  private readonly starting = new Set<string>();
  private closing = false;

  constructor(
    private readonly kv: KvStore,
    private readonly layout: KvLayout,
    private readonly cells: CellAdmin,
    private readonly session: () => string,
    private readonly log: Logger,
    private readonly owner: string,
    opts: Partial<MigrationOptions> = {},
  ) {
    this.opts = migrationOptions(opts);
  }

  /** Validates a move and returns its plan; throws an HttpError naming the problem. */
  async plan(market: string, to: string, share?: ShareSteps): Promise<MigrationPlan> {
    if (!isMarketId(market)) throw new HttpError('invalid_market', `'${String(market)}' is not a market id`);
    const m = await this.kv.getJson(MarketRecordSchema, this.layout.marketKey(market));
    if (!m) throw new HttpError('unknown_market', `unknown market '${market}'`);
    const target = await this.kv.getJson(CellRecordSchema, this.layout.cellKey(to)).catch(() => undefined);
    if (!target) throw new HttpError('not_found', `unknown cell '${to}'`);
    if (m.value.cell === to) throw new HttpError('invalid_request', `market ${market} is already on ${to}`);
    await this.refuseIfBusy(market);
    if (m.value.state !== 'active') throw new HttpError('conflict', `market ${market} is ${m.value.state}`);
    if (target.value.state !== 'active') throw new HttpError('conflict', `cell ${to} is ${target.value.state}: it takes no new markets`);
    const owned = (await this.kv.listJson(MarketRecordSchema, this.layout.marketsPrefix)).values.filter((v) => v.value.cell === to).length;
    if (owned >= target.value.capacity)
      throw new HttpError('conflict', `cell ${to} is full (${owned} of ${target.value.capacity} markets)`);
    for (const cell of [m.value.cell, to]) await this.waitHealthy(cell, 'cell');
    const split = await this.bothSplit(m.value.cell, to);
    if (split) for (const cell of [m.value.cell, to]) await this.waitHealthy(cell, 'delivery');
    if (share) {
      if (split) throw new HttpError('conflict', `a move by share needs all-in-one cells: ${m.value.cell} and ${to} are split`);
      if (m.value.experiment) throw new HttpError('conflict', `market ${market} runs an experiment: one split per market`);
      if (m.value.shareMove) throw new HttpError('conflict', `market ${market} has a share move to ${m.value.shareMove.to} already`);
    }
    const stepLines = share
      ? [
          `write ${market}'s share move to ${to} by ${share.header} at 0 % and wait for the edge`,
          ...share.steps.map(
            (p, i) =>
              `step to ${p} %: freeze buckets [${experimentThreshold(share.steps[i - 1] ?? 0)}, ${experimentThreshold(p)}) on ${m.value.cell}, copy and compare them on ${to}, set the share to ${p} % (CAS), wait for the edge`,
          ),
        ]
      : [];
    return {
      market,
      from: m.value.cell,
      to,
      epoch: m.value.epoch,
      split,
      steps: [
        `copy the snapshot of ${market} from ${m.value.cell} to ${to}${split ? ' (order and delivery services)' : ''}`,
        split
          ? `drain pending work of ${market} in ${m.value.cell}: outboxes, and events on both topics not yet consumed`
          : `drain pending work of ${market} in ${m.value.cell}`,
        ...stepLines,
        `freeze ${market} (routers hold its requests; ${m.value.cell} refuses writes${split ? ' and pauses its sagas' : ''})`,
        split
          ? 'wait for its events in flight, copy the delta of both services, compare counts and checksums'
          : 'copy the delta, compare counts and checksum',
        `flip ${market} to ${to} with epoch ${m.value.epoch + 1} (CAS${share ? ', the share move removed' : ''}) and release held requests`,
        `purge ${market} from ${m.value.cell} after ${this.opts.cleanupGraceMs} ms`,
      ],
      ...(share ? { share } : {}),
    };
  }

  /** Waits a few seconds for a cell's service to pass its checks (a busy cell can miss one or two); `409 conflict` if it does not. */
  private async waitHealthy(cell: string, service: 'cell' | 'delivery'): Promise<void> {
    let ok = await this.cells.healthy(cell, service);
    for (let i = 0; !ok && i < this.opts.healthWaitMs / 250; i++) {
      await new Promise((r) => setTimeout(r, 250));
      ok = await this.cells.healthy(cell, service);
    }
    if (!ok) throw new HttpError('conflict', `cell ${cell} has no healthy ${service === 'delivery' ? 'delivery service ' : ''}instance`);
  }

  /**
   * True when both cells run split into order and delivery services (`cellctl up --log kafka`);
   * `409 conflict` when one does and the other does not: a market does not move between the two
   * kinds (docs/kafka.md §Market migration on Kafka).
   */
  private async bothSplit(from: string, to: string): Promise<boolean> {
    const role = async (cell: string) => {
      try {
        return await this.cells.split(cell);
      } catch (err) {
        throw new HttpError('conflict', `cannot tell whether cell ${cell} is split: ${(err as Error).message}`);
      }
    };
    const [a, b] = await Promise.all([role(from), role(to)]);
    if (a !== b) {
      const kind = (split: boolean) => (split ? 'split into order and delivery services' : 'all-in-one');
      throw new HttpError(
        'conflict',
        `cell ${from} is ${kind(a)} and cell ${to} is ${kind(b)}: a market moves only between cells of one kind`,
      );
    }
    return a;
  }

  private async refuseIfBusy(market: string): Promise<void> {
    const cur = await this.kv.getJson(MigrationRecordSchema, this.layout.migrationKey(market)).catch(() => undefined);
    if (this.running.has(market) || (cur && !TERMINAL.has(cur.value.state))) {
      const what = cur ? `to ${cur.value.to} (state ${cur.value.state}, id ${cur.value.id})` : '';
      throw new HttpError('conflict', `market ${market} is already migrating ${what}`.trim());
    }
  }

  /** Validates, takes the lock and starts the migration; resolves with the first persisted record. */
  async start(market: string, to: string, by: string, share?: ShareSteps): Promise<MigrationRecord> {
    // Reserve the market before the first await: two requests in this process cannot both pass
    // the checks (they share one session, so the Consul lock alone would not tell them apart).
    if (this.starting.has(market) || this.running.has(market)) throw new HttpError('conflict', `market ${market} is already migrating`);
    this.starting.add(market);
    try {
      return await this.reserveAndLaunch(market, to, by, share);
    } finally {
      this.starting.delete(market);
    }
  }

  private async reserveAndLaunch(market: string, to: string, by: string, share?: ShareSteps): Promise<MigrationRecord> {
    const plan = await this.plan(market, to, share);
    const now = new Date().toISOString();
    const rec: MigrationRecord = {
      id: `mig-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`,
      market,
      from: plan.from,
      to,
      state: 'validating',
      epoch: plan.epoch,
      rows: { snapshot: 0, delta: 0 },
      ...(plan.split ? { delivery: { rows: { snapshot: 0, delta: 0 } } } : {}),
      ...(share ? { share: { header: share.header, steps: share.steps, percent: 0, bakeMs: share.bakeMs ?? 0 } } : {}),
      by,
      owner: this.owner,
      startedAt: now,
      updatedAt: now,
      history: [{ at: now, state: 'validating' }],
    };
    const locked = await this.kv.putJson(MigrationRecordSchema, this.layout.migrationKey(market), rec, { acquire: this.session() });
    if (!locked) throw new HttpError('conflict', `market ${market} is locked by another control plane's migration`);
    this.launch(rec);
    return rec;
  }

  private launch(rec: MigrationRecord): void {
    const run = new MigrationRun(
      {
        kv: this.kv,
        layout: this.layout,
        cells: this.cells,
        session: this.session,
        log: this.log,
        opts: this.opts,
        aborted: (m) => this.aborts.has(m),
        closing: () => this.closing,
      },
      rec,
    );
    const p = run
      .run()
      .catch((err: Error) => {
        if (this.closing) {
          this.log.info(
            { market: rec.market, state: run.record.state, err: err.message },
            'migration left for the next control plane to recover',
          );
        } else {
          this.log.error({ market: rec.market, err: err.message, lostLock: err instanceof LostLockError }, 'migration run stopped');
        }
        return run.record;
      })
      .finally(() => {
        this.running.delete(rec.market);
        this.aborts.delete(rec.market);
      });
    this.running.set(rec.market, p);
  }

  /**
   * Shutdown: every run stops before its next step (a step under way finishes), at most
   * `timeoutMs`; the records stay in Consul for the next control plane's recovery.
   */
  async close(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running.values()]),
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.closing;
  }

  /** Resolves when the market's migration (run by this process) ends. */
  async wait(market: string): Promise<MigrationRecord | undefined> {
    return this.running.get(market) ?? (await this.get(market));
  }

  /** Resolves once the market is moved (cleanup may still be pending) or the migration ended. */
  async moved(market: string, timeoutMs = 120_000): Promise<MigrationRecord | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rec = await this.get(market);
      if (!rec || TERMINAL.has(rec.state) || rec.state === 'cleanup-wait' || Date.now() > deadline || this.closing) return rec;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The market's migration record. */
  async get(market: string): Promise<MigrationRecord | undefined> {
    return (await this.kv.getJson(MigrationRecordSchema, this.layout.migrationKey(market)))?.value;
  }

  /** Every migration record, newest first. */
  async list(): Promise<MigrationRecord[]> {
    const { values } = await this.kv.listJson(MigrationRecordSchema, this.layout.migrationsPrefix);
    return values.map((v) => v.value).sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1));
  }

  /**
   * The running migration of `market` when an abort would be taken now (before its flip);
   * `409 conflict` otherwise. Reads only: the dry run of an abort.
   */
  async abortable(market: string) {
    const cur = await this.kv.getJson(MigrationRecordSchema, this.layout.migrationKey(market));
    if (!cur || TERMINAL.has(cur.value.state)) throw new HttpError('conflict', `no migration of ${market} is running`);
    if (!BEFORE_FLIP.has(cur.value.state)) {
      throw new HttpError('conflict', `migration of ${market} is past the flip (${cur.value.state}); it can only finish`);
    }
    return cur;
  }

  /** Asks a running migration to roll back; refused once the flip happened. */
  async abort(market: string): Promise<MigrationRecord> {
    const cur = await this.abortable(market);
    if (this.running.has(market)) this.aborts.add(market);
    const next = { ...cur.value, abortRequested: true };
    // Writing with our session keeps the lock with its holder (same session) or fails for another holder's lock.
    const ok = await this.kv.putJson(MigrationRecordSchema, this.layout.migrationKey(market), next, { cas: cur.item.modifyIndex });
    if (!ok && !this.running.has(market)) throw new HttpError('conflict', `migration of ${market} changed; retry the abort`);
    return next;
  }

  /** Picks up every unfinished, unlocked migration: rolls back before the flip, resumes after it. */
  async recover(): Promise<MigrationRecord[]> {
    const picked: MigrationRecord[] = [];
    for (const { value, item } of (await this.kv.listJson(MigrationRecordSchema, this.layout.migrationsPrefix)).values) {
      if (TERMINAL.has(value.state) || this.running.has(value.market)) continue;
      if (item.session && item.session !== this.session()) continue; // a live control plane holds it
      let rec: MigrationRecord = { ...value, owner: this.owner };
      if (BEFORE_FLIP.has(value.state)) {
        const at = new Date().toISOString();
        rec = {
          ...rec,
          state: 'rolling-back',
          error: `control plane restarted during ${value.state}`,
          history: [...value.history, { at, state: 'rolling-back', note: `recovered after restart during ${value.state}` }],
        };
      }
      if (!(await this.kv.putJson(MigrationRecordSchema, this.layout.migrationKey(value.market), rec, { acquire: this.session() })))
        continue;
      this.log.warn({ market: value.market, state: value.state, next: rec.state }, 'recovering unfinished migration');
      this.launch(rec);
      picked.push(rec);
    }
    return picked;
  }

  /** Waits for every migration this process runs (for shutdown and tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()]);
  }
}
