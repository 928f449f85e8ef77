/**
 * One migration's state machine (issue 6 §3): copying → draining → freezing → delta →
 * verifying → flipping → flipped → cleanup-wait → done, or rolling-back → rolled-back on any
 * failure before the flip. Every step is persisted in `cellsim/migrations/<market>` (held
 * with the control plane's session) before its effects, so a restarted control plane can
 * tell what may be half done: before the flip it rolls back, after it resumes. Between split
 * cells (`record.delivery`) every step does the same to the delivery service's rows, and the
 * freeze waits for the market's events in flight between the two services to be applied
 * (docs/kafka.md §Market migration on Kafka). A move by share (`record.share`) passes through
 * `stepping` between draining and the freeze: its bucket ranges move one step at a time
 * (docs/weighted-shifts.md §Market moves by share), and its rollback moves them back first.
 */
import {
  MarketRecordSchema,
  MigrationRecordSchema,
  type KvLayout,
  type MarketRecord,
  type MigrationRecord,
  type MigrationState,
  type WaveVerdict,
} from '../../shared/kv.js';
import { EXPERIMENT_BUCKETS, experimentThreshold } from '../../shared/experiment.js';
import { CellsimError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import { MarketWriter } from '../../shared/markets/writer.js';
import type { BucketRange, CellAdmin, CellService, MarketSummary, RangeSummary } from './cell-client.js';
import { BEFORE_FLIP, TERMINAL, type MigrationOptions } from './options.js';
import { freezeBarrier, unreachable } from './freeze-barrier.js';

/** What a run needs from the control plane. */
export interface MachineDeps {
  kv: KvStore;
  layout: KvLayout;
  cells: CellAdmin;
  session: () => string;
  log: Logger;
  opts: MigrationOptions;
  /** True when an operator asked this process to abort the market's migration. */
  aborted?: (market: string) => boolean;
  /** True once this control plane shuts down: the run stops before its next step. */
  closing?: () => boolean;
}

/** Raised when this control plane lost the record's lock: another one owns the migration now (code `lost_lock`). */
export class LostLockError extends CellsimError {
  constructor(message: string) {
    super('lost_lock', message);
    this.name = 'LostLockError';
  }
}

/**
 * Raised when the control plane shuts down mid-migration: the run stops between steps and
 * leaves its persisted record to the next control plane's recovery (roll back before the flip,
 * resume after it). Code `shutting_down`.
 */
export class ShutdownError extends CellsimError {
  constructor(message: string) {
    super('shutting_down', message);
    this.name = 'ShutdownError';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A market's summaries in one cell: its (order) service's, and its delivery service's when split. */
interface Summaries {
  cell: MarketSummary;
  delivery?: MarketSummary;
}

/** Runs one migration from its persisted state to a terminal state. */
export class MigrationRun {
  private rec: MigrationRecord;
  private frozenAtMs: number | undefined;
  /** The market record as frozen (read while the edge settles), so the flip is one CAS write. */
  private frozenItem: { modifyIndex: number } | undefined;
  private rollbackAttempts = 0;
  /** The SLO window of the step under way (opened when its share rose; gone after a restart, which rolls back). */
  private stepWindow: (() => Promise<WaveVerdict>) | undefined;
  private readonly phases: Record<string, number> = {};
  private mark = 0;
  /** Adds the time since the last mark to phase `name`. */
  private lap(name: string): void {
    const now = performance.now();
    this.phases[name] = Math.round((this.phases[name] ?? 0) + now - this.mark);
    this.mark = now;
  }
  private readonly startMs = Date.now();

  /** Market records are written with their change-log entry (shared/markets/writer.ts). */
  private readonly markets: MarketWriter;

  constructor(
    private readonly deps: MachineDeps,
    record: MigrationRecord,
  ) {
    this.rec = record;
    this.markets = new MarketWriter(deps.kv.consul, deps.layout);
  }

  get record(): MigrationRecord {
    return this.rec;
  }

  /** The services whose rows move: the cell's, and its delivery service's between split cells. */
  private services(): CellService[] {
    return this.rec.delivery ? ['cell', 'delivery'] : ['cell'];
  }

  /** Persists the record with the lock held; a lost lock stops the run. */
  private async save(
    patch: Partial<MigrationRecord>,
    state?: MigrationState,
    note?: string,
    events: MigrationRecord['history'] = [],
  ): Promise<void> {
    const at = new Date().toISOString();
    const next: MigrationRecord = { ...this.rec, ...patch, updatedAt: at };
    if (!next.abortRequested && this.deps.aborted?.(this.rec.market)) next.abortRequested = true;
    if (state) {
      next.state = state;
      next.history = [...this.rec.history, ...events, { at, state, ...(note ? { note } : {}) }];
    }
    const ok = await this.deps.kv.putJson(MigrationRecordSchema, this.deps.layout.migrationKey(this.rec.market), next, {
      acquire: this.deps.session(),
    });
    if (!ok) throw new LostLockError(`lost the lock on migration of ${this.rec.market}`);
    this.rec = next;
    if (state) this.deps.log.info({ market: next.market, from: next.from, to: next.to, state, note }, `migration ${next.market}: ${state}`);
  }

  /** Re-reads abort requests written through the admin API. */
  private async abortRequested(): Promise<boolean> {
    if (this.deps.aborted?.(this.rec.market)) return true;
    const cur = await this.deps.kv.getJson(MigrationRecordSchema, this.deps.layout.migrationKey(this.rec.market));
    return cur?.value.abortRequested === true;
  }

  /** Drives the record to a terminal state; returns it. */
  async run(): Promise<MigrationRecord> {
    while (!TERMINAL.has(this.rec.state)) {
      const state = this.rec.state;
      if (this.deps.closing?.()) throw new ShutdownError(`control plane shutting down; migration of ${this.rec.market} left in ${state}`);
      if (BEFORE_FLIP.has(state) && (await this.abortRequested())) {
        await this.save({ abortRequested: true, error: 'aborted by operator' }, 'rolling-back', 'aborted by operator');
        continue;
      }
      try {
        await this.step(state);
      } catch (err) {
        if (err instanceof LostLockError || this.deps.closing?.()) throw err;
        const msg = (err as Error).message;
        if (BEFORE_FLIP.has(state)) {
          await this.save({ error: msg }, 'rolling-back', `failed in ${state}: ${msg}`);
        } else if (state === 'rolling-back') {
          // Undo steps are idempotent: retry a sick cell for a while before giving up.
          if (++this.rollbackAttempts < 10) {
            this.deps.log.warn({ market: this.rec.market, err: msg, attempt: this.rollbackAttempts }, 'rollback step failed; retrying');
            await sleep(Math.min(5000, 250 * 2 ** this.rollbackAttempts));
            continue;
          }
          await this.save({ error: `rollback failed: ${msg}` }, 'failed', msg);
        } else if (state === 'flipping') {
          // The flip's outcome is unknown: read it back to decide.
          await this.resolveFlip(msg);
        } else {
          this.deps.log.warn({ market: this.rec.market, state, err: msg }, 'post-flip step failed; retrying');
          await sleep(1000);
        }
      }
    }
    await this.deps.kv
      .putJson(MigrationRecordSchema, this.deps.layout.migrationKey(this.rec.market), this.rec, { release: this.deps.session() })
      .catch(() => undefined);
    return this.rec;
  }

  private async step(state: MigrationState): Promise<void> {
    const { cells, opts } = this.deps;
    const { market, from, to } = this.rec;
    switch (state) {
      case 'validating':
        return this.save({}, 'copying');
      case 'copying': {
        for (const svc of this.services()) await cells.purge(to, market, svc); // a clean target: leftovers of an earlier attempt go
        const copy = await cells.copy(market, from, to);
        const dcopy = this.rec.delivery ? await cells.copy(market, from, to, undefined, 'delivery') : undefined;
        return this.save(
          {
            cursor: copy.cursor,
            rows: { ...this.rec.rows, snapshot: copy.rows },
            ...(dcopy && this.rec.delivery
              ? { delivery: { ...this.rec.delivery, cursor: dcopy.cursor, rows: { snapshot: dcopy.rows, delta: 0 } } }
              : {}),
          },
          'draining',
          dcopy ? `${copy.rows} rows; ${dcopy.rows} delivery rows` : `${copy.rows} rows`,
        );
      }
      case 'draining': {
        // Work that does not need the freeze happens before it: pending work drains and the
        // changes since the snapshot are pre-copied until a round is small.
        const s = await this.waitPending(from, opts.preDrainThreshold, opts.preDrainMs, false);
        let cursor = this.rec.cursor;
        let dcursor = this.rec.delivery?.cursor;
        let rows = 0;
        let drows = 0;
        let rounds = 0;
        for (let last = Infinity; last > opts.preCopyRows && rounds < opts.preCopyRounds; rounds++) {
          const copy = await cells.copy(market, from, to, cursor);
          cursor = copy.cursor;
          rows += copy.rows;
          last = copy.rows;
          if (this.rec.delivery) {
            const dcopy = await cells.copy(market, from, to, dcursor, 'delivery');
            dcursor = dcopy.cursor;
            drows += dcopy.rows;
            last = Math.max(last, dcopy.rows);
          }
        }
        // Warm the target's incremental checksum (a first summary hashes every order; inside the
        // freeze only the delta's orders are hashed). The source's is warm from the polls above.
        for (const svc of this.services()) await cells.summary(to, market, svc);
        const d = this.rec.delivery;
        return this.save(
          {
            cursor,
            rows: { ...this.rec.rows, delta: this.rec.rows.delta + rows },
            ...(d ? { delivery: { ...d, cursor: dcursor, rows: { ...d.rows, delta: d.rows.delta + drows } } } : {}),
          },
          this.rec.share ? 'stepping' : 'freezing',
          `pending ${pendingOfAll(s)}; ${rows + drows} rows pre-copied in ${rounds} round${rounds === 1 ? '' : 's'}`,
        );
      }
      case 'stepping':
        return this.shareStep();
      case 'freezing': {
        // The freeze window: KV frozen (routers hold) … flip written. Nothing is persisted in
        // between but the intent to flip; a crash leaves 'freezing', which recovery rolls back.
        const readFrozen = async () => {
          const cur = await this.deps.kv.getJson(MarketRecordSchema, this.deps.layout.marketKey(market)).catch(() => undefined);
          this.frozenItem = cur && cur.value.cell === from && cur.value.state === 'frozen' ? cur.item : undefined;
        };
        let frozenAt = '';
        // One bound for every wait of this freeze on an unreachable plane (docs/operators.md §Waiting for the data planes).
        const reachUntil = Date.now() + opts.reachWaitMs;
        for (let attempt = 1; ; attempt++) {
          const reach = await this.awaitReachable(reachUntil);
          if (reach === 'stopped') return; // the run loop rolls back (abort) or leaves it to recovery (shutdown)
          if (reach === 'waited') attempt = 1; // a plane back from unreachable gets every attempt
          await this.setMarket((m) => (m.cell === from && m.state === 'active' ? { ...m, state: 'frozen' } : undefined), 'freeze');
          this.frozenAtMs = Date.now();
          this.mark = performance.now();
          frozenAt = new Date().toISOString();
          // The freeze barrier: every live data plane confirms it holds the market before the cell
          // refuses its writes. One that does not within the bound thaws the market on its source
          // (never frozen there) and the freeze is tried again; after the last attempt, a rollback.
          const planes = opts.freezePlanes;
          const confirm = planes
            ? planes(market, { cell: from, epoch: this.rec.epoch }).then((p) => freezeBarrier(p, opts.barrierMs))
            : sleep(opts.settleMs).then(() => []);
          const [unconfirmed] = await Promise.all([confirm, readFrozen()]);
          this.lap('edge');
          if (unconfirmed.length === 0) break;
          const why = `freeze not confirmed within ${opts.barrierMs} ms by ${unconfirmed.join('; ')}`;
          if (attempt >= opts.freezeAttempts) {
            throw new Error(`${why}${attempt > 1 ? ` (${attempt} attempts)` : ''}; the source cell was not frozen`);
          }
          await this.setMarket((m) => (m.cell === from && m.state === 'frozen' ? { ...m, state: 'active' } : undefined), 'thaw');
          await this.save({}, 'freezing', `attempt ${attempt} of ${opts.freezeAttempts}: ${why}; thawed, trying again`);
          await sleep(opts.freezeRetryMs);
        }
        // The order service first (no new order events), then the delivery service (no saga step,
        // so no new delivery event): from here the market's events in flight only drain.
        for (const svc of this.services()) await cells.freeze(from, market, svc);
        this.lap('cellFreeze');
        return this.deltaAndVerify(frozenAt);
      }
      case 'delta':
      case 'verifying':
        return this.deltaAndVerify(this.rec.frozenAt ?? new Date().toISOString());
      case 'flipping': {
        const flipped = { cell: to, state: 'active' as const, epoch: this.rec.epoch + 1 };
        // One CAS on the index read at the freeze; if the record moved since, read and check it again.
        const fast = this.frozenItem !== undefined && (await this.markets.put(market, flipped, { cas: this.frozenItem.modifyIndex }));
        if (!fast) await this.setMarket((m) => (m.cell === from && m.state === 'frozen' ? flipped : undefined), 'flip');
        const freezeMs = this.frozenAtMs === undefined ? undefined : Date.now() - this.frozenAtMs;
        if (this.mark) this.lap('flip');
        if (freezeMs !== undefined && freezeMs > 500) {
          this.deps.log.warn({ market, freezeMs, phases: this.phases }, `migration ${market}: long freeze window`);
        }
        return this.save(
          { ...(freezeMs !== undefined ? { freezeMs, phases: { ...this.phases } } : {}), moveMs: Date.now() - this.startMs },
          'flipped',
          `epoch ${this.rec.epoch + 1}, market active on ${to}`,
        );
      }
      case 'flipped': {
        // The source stays frozen (a stale router's write is refused there) until cleanup.
        const s = await cells.summary(from, market);
        const same = this.rec.summary && s.checksum === this.rec.summary.checksum && s.orders === this.rec.summary.orders;
        const cleanupAt = new Date(Date.now() + opts.cleanupGraceMs).toISOString();
        return this.save(
          { cleanupAt },
          'cleanup-wait',
          same ? 'source unchanged since the flip' : `source changed after the flip: ${describe(s)}`,
        );
      }
      case 'cleanup-wait': {
        // Waits in slices so that a shutdown need not sit out the whole grace.
        for (
          let wait = Date.parse(this.rec.cleanupAt ?? '') - Date.now();
          wait > 0;
          wait = Date.parse(this.rec.cleanupAt ?? '') - Date.now()
        ) {
          if (this.deps.closing?.()) throw new ShutdownError(`control plane shutting down; cleanup of ${market} left for recovery`);
          await sleep(Math.min(wait, 200));
        }
        for (const svc of this.services()) {
          await cells.purge(from, market, svc);
          await cells.unfreeze(from, market, svc);
        }
        return this.save({}, 'done', `source ${from} purged`);
      }
      case 'rolling-back':
        return this.rollback();
      default:
        return;
    }
  }

  /**
   * Before a freeze (docs/operators.md §Waiting for the data planes): while a plane of `reachPlanes` cannot be
   * heard (a router that does not answer, an Envoy behind on its routes or whose xDS stream ended
   * lately), waits for it, the market active on its source and the source not frozen, asking every
   * `reachPollMs` until `until`; the wait's start and end are notes of the history. Throws past
   * `until`, naming the planes; `stopped` on an abort or a shutdown (the run loop acts on them);
   * `waited` when it had to wait.
   */
  private async awaitReachable(until: number): Promise<'ready' | 'waited' | 'stopped'> {
    const { opts } = this.deps;
    if (!opts.reachPlanes) return 'ready';
    const want = { cell: this.rec.from, epoch: this.rec.epoch };
    // Each question has its full second whatever is left of the bound: a healthy plane is never cut short.
    const ask = async () => unreachable(await opts.reachPlanes!(this.rec.market, want), 1000);
    let missing = await ask();
    if (missing.length === 0) return 'ready';
    const started = Date.now();
    const first = missing;
    if (started < until) {
      await this.save(
        {},
        'freezing',
        `waiting up to ${until - started} ms for ${missing.join('; ')} to be reachable before the freeze; ${this.rec.from} not frozen, serving ${this.rec.market}`,
      );
    }
    while (missing.length > 0) {
      if (Date.now() >= until) {
        throw new Error(
          `freeze not confirmed: not reachable within ${opts.reachWaitMs} ms: ${missing.join('; ')}; the source cell was not frozen`,
        );
      }
      if (this.deps.closing?.() || (await this.abortRequested())) return 'stopped';
      await sleep(Math.min(opts.reachPollMs, until - Date.now()));
      missing = await ask();
    }
    const names = first.map((m) => m.slice(0, m.indexOf(':'))).join(', ');
    await this.save({}, 'freezing', `${names} reachable again after ${Date.now() - started} ms; freezing`);
    return 'waited';
  }

  /**
   * Inside the freeze: waits for the source's pending work to drain (the cell has paused the
   * market's sagas and reconciliation, so from then on it does not change, and that drained
   * summary is the source's side of the comparison), copies the delta, and compares with the
   * target's summary (both checksums are kept incrementally by the cells). Repeats only when
   * the source still changed (a cell that does not pause a frozen market); then records the
   * intent to flip.
   */
  private async deltaAndVerify(frozenAt: string): Promise<void> {
    const { cells, opts } = this.deps;
    const { market, from, to } = this.rec;
    let rows = 0;
    let drows = 0;
    let cursor = this.rec.cursor;
    const d = this.rec.delivery;
    let dcursor = d?.cursor;
    let last = '';
    // A move by share: the buckets moved in its steps live on the target already; the rest moves now.
    const rest = this.rec.share ? { from: experimentThreshold(this.rec.share.percent), to: EXPERIMENT_BUCKETS } : undefined;
    for (let attempt = 1; attempt <= opts.verifyAttempts; attempt++) {
      const a = await this.waitPending(from, 0, opts.finalDrainMs, true);
      this.lap('drain');
      if (rest) {
        const copy = await cells.copy(market, from, to, cursor, 'cell', rest);
        rows += copy.rows;
        this.lap('delta');
        const [ra, rb] = [await cells.rangeSummary(from, market, rest), await cells.rangeSummary(to, market, rest)];
        this.lap('verify');
        if (sameRange(ra, rb)) {
          // The target holds the whole market from the flip: its reads stop asking the source.
          await cells.sharePeer(to, market, undefined);
          const at = new Date().toISOString();
          return this.save(
            {
              frozenAt,
              rows: { ...this.rec.rows, delta: this.rec.rows.delta + rows },
              summary: { orders: a.cell.orders, deliveries: a.cell.deliveries, checksum: a.cell.checksum },
            },
            'flipping',
            undefined,
            [
              { at: frozenAt, state: 'delta', note: `frozen; ${rows} delta rows of buckets [${rest.from}, ${rest.to})` },
              { at, state: 'verifying', note: `buckets [${rest.from}, ${rest.to}): ${describeRange(ra)} on both sides` },
            ],
          );
        }
        last = `buckets [${rest.from}, ${rest.to}): source ${describeRange(ra)} vs target ${describeRange(rb)}`;
        this.deps.log.warn({ market, attempt, mismatch: last }, `migration ${market}: summaries differ after a delta copy; copying again`);
        continue;
      }
      const copy = await cells.copy(market, from, to, cursor);
      rows += copy.rows;
      cursor = copy.cursor;
      if (d) {
        const dcopy = await cells.copy(market, from, to, dcursor, 'delivery');
        drows += dcopy.rows;
        dcursor = dcopy.cursor;
      }
      this.lap('delta');
      const b: Summaries = { cell: await cells.summary(to, market) };
      if (d) b.delivery = await cells.summary(to, market, 'delivery');
      this.lap('verify');
      if (same(a.cell, b.cell) && (!d || (a.delivery && b.delivery && same(a.delivery, b.delivery)))) {
        const at = new Date().toISOString();
        const brief = (x: MarketSummary) => ({ orders: x.orders, deliveries: x.deliveries, checksum: x.checksum });
        return this.save(
          {
            frozenAt,
            cursor,
            rows: { ...this.rec.rows, delta: this.rec.rows.delta + rows },
            summary: brief(a.cell),
            ...(d && a.delivery
              ? { delivery: { ...d, cursor: dcursor, rows: { ...d.rows, delta: d.rows.delta + drows }, summary: brief(a.delivery) } }
              : {}),
          },
          'flipping',
          undefined,
          [
            { at: frozenAt, state: 'delta', note: `frozen; ${rows + drows} delta rows` },
            {
              at,
              state: 'verifying',
              note: `${describeAll(a)} on both sides after ${attempt} delta cop${attempt === 1 ? 'y' : 'ies'}`,
            },
          ],
        );
      }
      last = `source ${describeAll(a)} vs target ${describeAll(b)}`;
      this.deps.log.warn({ market, attempt, mismatch: last }, `migration ${market}: summaries differ after a delta copy; copying again`);
    }
    throw new Error(`verify failed after ${opts.verifyAttempts} delta copies: ${last}`);
  }

  /** Undo everything before the flip; when the flip did happen after all, continue forward. */
  private async rollback(): Promise<void> {
    const { kv, layout, cells } = this.deps;
    const { market, from, to } = this.rec;
    const cur = await kv.getJson(MarketRecordSchema, layout.marketKey(market));
    if (cur && cur.value.cell === to && cur.value.epoch === this.rec.epoch + 1) {
      return this.save({}, 'flipped', 'flip found written; continuing forward');
    }
    if (cur && cur.value.cell === from && cur.value.state === 'frozen') {
      await this.setMarket((m) => (m.cell === from && m.state === 'frozen' ? { ...m, state: 'active' } : undefined), 'unfreeze');
    }
    if (this.rec.share) await this.shareBack();
    for (const svc of this.services()) {
      await cells.unfreeze(from, market, svc);
      await cells.purge(to, market, svc);
    }
    return this.save({}, 'rolled-back', `market active on ${from}; target ${to} purged`);
  }

  /**
   * One round of `stepping` (docs/weighted-shifts.md §Market moves by share). The first writes the
   * market record's share move at 0 %, so Envoy warms its configuration before any bucket moves.
   * Each next one moves the buckets [p, p′) of the next step: frozen on the source (its writes
   * answer 409, its sagas pause), their delta copied to the target and compared, then the record's
   * percent set to p′ by CAS and the edge waited for. Past the last step the freeze takes the rest.
   */
  private async shareStep(): Promise<void> {
    const { cells } = this.deps;
    const { market, from, to } = this.rec;
    let share = this.rec.share!;
    const cur = (await this.deps.kv.getJson(MarketRecordSchema, this.deps.layout.marketKey(market)))?.value;
    if (cur?.shareMove === undefined) {
      await this.declareHomes(0);
      await this.setMarket(
        (m) =>
          m.cell === from && m.state === 'active' && !m.experiment && !m.shareMove
            ? { ...m, shareMove: { to, header: share.header, percent: 0 } }
            : undefined,
        'start the share move of',
      );
      await this.shareSettled(0);
      return this.save({}, 'stepping', `share move to ${to} by ${share.header} at 0 %`);
    }
    // The last step holds for its bake first, judged as it goes; an abort or a shutdown cuts it short (the run loop acts on them).
    const end = Date.parse(share.stepAt ?? '') + (share.bakeMs ?? 0);
    for (let checked = 0; Date.now() < end; await sleep(Math.min(200, Math.max(0, end - Date.now())))) {
      if (this.deps.closing?.() || (await this.abortRequested())) return;
      if (this.stepWindow && Date.now() - checked >= this.deps.opts.stepCheckMs) {
        checked = Date.now();
        await this.stepVerdict(false);
      }
    }
    if (this.stepWindow) await this.stepVerdict(true);
    share = this.rec.share!; // with the step's verdict
    const next = share.steps.find((p) => p > share.percent);
    if (next === undefined) {
      // The rest's changes are pre-copied until a round is small, so the freeze's delta copy is.
      const rest = { from: experimentThreshold(share.percent), to: EXPERIMENT_BUCKETS };
      let cursor = this.rec.cursor;
      let rows = 0;
      let rounds = 0;
      for (let last = Infinity; last > this.deps.opts.preCopyRows && rounds < this.deps.opts.preCopyRounds; rounds++) {
        const copy = await cells.copy(market, from, to, cursor, 'cell', rest);
        cursor = copy.cursor;
        rows += copy.rows;
        last = copy.rows;
      }
      return this.save(
        { cursor, rows: { ...this.rec.rows, delta: this.rec.rows.delta + rows } },
        'freezing',
        `${share.percent} % on ${to}; ${rows} rows of buckets [${rest.from}, ${rest.to}) pre-copied in ${rounds} rounds; the freeze moves the rest`,
      );
    }
    const range = { from: experimentThreshold(share.percent), to: experimentThreshold(next) };
    // Pre-copied before its freeze (the cursor holds for every bucket not moved yet), so the freeze is short.
    const pre = await cells.copy(market, from, to, this.rec.cursor, 'cell', range);
    await cells.freezeBuckets(from, market, range);
    const moved = await this.copyRange(from, to, range, pre.cursor);
    moved.rows += pre.rows;
    // Declared, the target takes the range's writes the source forwards (cells/order-writes.ts): an undo brings it back.
    await this.save({ share: { ...share, returning: next } });
    share = this.rec.share!;
    // The range's copy is verified and the source writes it no more: reads may take it from the target now.
    await this.declareHomes(next);
    await this.setMarket(
      (m) =>
        m.cell === from && m.state === 'active' && m.shareMove?.to === to
          ? { ...m, shareMove: { ...m.shareMove, percent: next } }
          : undefined,
      'step',
    );
    await this.shareSettled(next);
    this.stepWindow = await this.deps.opts.shareJudge?.start(market, from, to).catch((err: unknown) => {
      this.deps.log.warn(
        { market, err: (err as Error).message },
        `migration ${market}: the step's SLO window did not open; it goes unjudged`,
      );
      return undefined;
    });
    return this.save(
      {
        share: { ...share, percent: next, stepAt: new Date().toISOString() },
        rows: { ...this.rec.rows, delta: this.rec.rows.delta + moved.rows },
      },
      'stepping',
      `${next} % on ${to}: buckets [${range.from}, ${range.to}) moved, ${moved.rows} rows, ${describeRange(moved.summary)} on both sides`,
    );
  }

  /**
   * Judges the step under way (its window opened when its share rose): a breach is recorded and
   * thrown, so the run rolls the move back; the `final` verdict, at the end of the bake, is
   * recorded with a history line. A check that cannot read the cells is skipped.
   */
  private async stepVerdict(final: boolean): Promise<void> {
    const { market, to } = this.rec;
    const share = this.rec.share!;
    let verdict: WaveVerdict;
    try {
      verdict = await this.stepWindow!();
    } catch (err) {
      this.deps.log.warn({ market, err: (err as Error).message }, `migration ${market}: a step's SLO check failed to read the cells`);
      return;
    }
    if (verdict.pass && !final) return;
    this.stepWindow = undefined;
    const verdicts = [...(share.verdicts ?? []), { percent: share.percent, verdict }];
    const what = `${share.percent} % on ${to}: ${verdict.pass ? 'SLO pass' : 'SLO breach'}, ${verdict.reason} (${verdict.requests} requests of the moved share, ${verdict.baseline.requests} of the rest)`;
    await this.save({ share: { ...share, verdicts } }, 'stepping', what);
    if (!verdict.pass) throw new Error(`SLO breach at ${share.percent} % on ${to}: ${verdict.reason}`);
  }

  /**
   * Copies a bucket range from one cell to the other (its changes since `since`, or all of it) until
   * both sides' summaries of the range agree; the sending side's range is frozen, so it only changes
   * while its pending work drains.
   */
  private async copyRange(
    src: string,
    dst: string,
    range: BucketRange,
    since: string | number | undefined,
  ): Promise<{ rows: number; summary: RangeSummary }> {
    const { cells, opts } = this.deps;
    const { market } = this.rec;
    let rows = 0;
    let last = '';
    for (let attempt = 1; attempt <= opts.verifyAttempts; attempt++) {
      await this.waitPending(src, 0, opts.finalDrainMs, false);
      rows += (await cells.copy(market, src, dst, since, 'cell', range)).rows;
      const [a, b] = [await cells.rangeSummary(src, market, range), await cells.rangeSummary(dst, market, range)];
      if (sameRange(a, b)) return { rows, summary: a };
      last = `${src} ${describeRange(a)} vs ${dst} ${describeRange(b)}`;
      this.deps.log.warn(
        { market, attempt, range, mismatch: last },
        `migration ${market}: a bucket range differs after its copy; copying again`,
      );
    }
    throw new Error(`buckets [${range.from}, ${range.to}) of ${market} differ after ${opts.verifyAttempts} copies: ${last}`);
  }

  /**
   * Tells both cells where the market's orders live once the target serves `percent` %: buckets
   * [0, threshold) on the target, the rest on the source (docs/weighted-shifts.md §Reads during a move by share).
   */
  private async declareHomes(percent: number): Promise<void> {
    const { cells } = this.deps;
    const { market, from, to } = this.rec;
    const t = experimentThreshold(percent);
    await cells.sharePeer(from, market, { cell: to, buckets: { from: 0, to: t } });
    await cells.sharePeer(to, market, { cell: from, buckets: { from: t, to: EXPERIMENT_BUCKETS } });
  }

  /** Waits for the routers (a settle time) and the edge (its barrier, bounded) to serve the share `percent` (undefined: none). */
  private async shareSettled(percent: number | undefined): Promise<void> {
    const { opts } = this.deps;
    const barrier = opts.shareBarrier?.(this.rec.market, percent) ?? Promise.resolve();
    await Promise.all([sleep(opts.stepSettleMs), Promise.race([barrier, sleep(opts.stepBarrierMs)])]);
  }

  /**
   * The undo of `stepping`: the buckets the target served move back. The target freezes them (a
   * stale plane's write is refused there), the record's share move goes (every request to the
   * source again), the target's copy of them replaces the source's, and the source thaws. The share
   * to bring back is persisted first, so a rollback cut short and run again still copies it.
   */
  private async shareBack(): Promise<void> {
    const { cells } = this.deps;
    const { market, from, to } = this.rec;
    let share = this.rec.share!;
    const cur = (await this.deps.kv.getJson(MarketRecordSchema, this.deps.layout.marketKey(market)))?.value;
    const recorded = cur?.cell === from && cur.shareMove?.to === to ? cur.shareMove.percent : 0;
    const served = Math.max(recorded, share.returning ?? 0);
    if (served > 0 && share.returning !== served) {
      await this.save({ share: { ...share, returning: served } });
      share = this.rec.share!;
    }
    const range = { from: 0, to: experimentThreshold(served) };
    if (served > 0) await cells.freezeBuckets(to, market, range);
    if (cur?.shareMove !== undefined && cur.cell === from) {
      await this.setMarket((m) => {
        if (m.cell !== from) return undefined;
        const { shareMove: _gone, ...rest } = m;
        return rest;
      }, 'end the share move of');
      await this.shareSettled(undefined);
    }
    if (served > 0) {
      const back = await this.copyRange(to, from, range, undefined);
      await this.save({ share: { ...share, returning: 0 } });
      this.deps.log.info({ market, range, rows: back.rows }, `migration ${market}: buckets [0, ${range.to}) moved back to ${from}`);
    }
    // Every bucket is the source's again, its rows current: its reads stop asking the target.
    await cells.sharePeer(from, market, undefined);
    await cells.sharePeer(to, market, undefined);
    await cells.thawBuckets(from, market);
  }

  /** After an unknown flip outcome: continue if written, else roll back. */
  private async resolveFlip(msg: string): Promise<void> {
    const cur = await this.deps.kv.getJson(MarketRecordSchema, this.deps.layout.marketKey(this.rec.market));
    if (cur && cur.value.cell === this.rec.to && cur.value.epoch === this.rec.epoch + 1) await this.save({}, 'flipped', 'flip confirmed');
    else await this.save({ error: msg }, 'rolling-back', `flip failed: ${msg}`);
  }

  /** CAS-updates the market record; `change` returns undefined when the current value forbids the change. */
  private async setMarket(change: (m: MarketRecord) => MarketRecord | undefined, what: string) {
    const { kv, layout } = this.deps;
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await kv.getJson(MarketRecordSchema, layout.marketKey(this.rec.market));
      if (!cur) throw new Error(`market ${this.rec.market} disappeared from Consul`);
      const next = change(cur.value);
      if (!next) throw new Error(`cannot ${what} market ${this.rec.market}: it is ${JSON.stringify(cur.value)}`);
      if (await this.markets.put(this.rec.market, next, { cas: cur.item.modifyIndex })) return;
    }
    throw new Error(`cannot ${what} market ${this.rec.market}: it kept changing under us`);
  }

  /**
   * Polls the source until its pending work is at most `max`; throws past `timeoutMs` when
   * `strict`. Between split cells the pending work is both services' events in flight: the order
   * service's outbox and its order events the delivery group has not consumed, and the delivery
   * service's outbox and its delivery events the order service has not applied. Once both are
   * frozen these only shrink; the delivery service's summary is read first, so the order
   * service's read after it already holds every delivery event, and read again once all is
   * drained, so it holds every order event too.
   */
  private async waitPending(cell: string, max: number, timeoutMs: number, strict: boolean): Promise<Summaries> {
    const { cells, opts } = this.deps;
    const split = this.rec.delivery !== undefined;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const delivery = split ? await cells.summary(cell, this.rec.market, 'delivery') : undefined;
      const s: Summaries = { cell: await cells.summary(cell, this.rec.market), ...(delivery ? { delivery } : {}) };
      if (pendingOfAll(s) <= max) {
        if (split) s.delivery = await cells.summary(cell, this.rec.market, 'delivery');
        return s;
      }
      if (Date.now() > deadline) {
        if (strict)
          throw new Error(`pending work of ${this.rec.market} in ${cell} did not drain in ${timeoutMs} ms (${pendingOfAll(s)} left)`);
        return s;
      }
      await sleep(opts.pollMs);
    }
  }
}

/** Work that must be copied before the flip: outbox rows and unconsumed log events (sagas move with their rows). */
function pendingOf(s: MarketSummary): number {
  return s.pending.outbox + s.pending.log;
}

/** {@link pendingOf} of both services of a split cell. */
function pendingOfAll(s: Summaries): number {
  return pendingOf(s.cell) + (s.delivery ? pendingOf(s.delivery) : 0);
}

/** True when two summaries of a market agree (counts and checksum). */
function same(a: MarketSummary, b: MarketSummary): boolean {
  return a.orders === b.orders && a.deliveries === b.deliveries && a.checksum === b.checksum;
}

/** True when two summaries of a bucket range agree. */
function sameRange(a: RangeSummary, b: RangeSummary): boolean {
  return a.orders === b.orders && a.deliveries === b.deliveries && a.checksum === b.checksum;
}

function describeRange(s: RangeSummary): string {
  return `${s.orders} orders, ${s.deliveries} deliveries, checksum ${s.checksum}`;
}

function describe(s: MarketSummary): string {
  return `${s.orders} orders, ${s.deliveries} deliveries, checksum ${s.checksum}`;
}

function describeAll(s: Summaries): string {
  return s.delivery ? `${describe(s.cell)} (delivery service: ${describe(s.delivery)})` : describe(s.cell);
}
