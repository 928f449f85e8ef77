/** The cell's Prometheus metrics (prom-client): HTTP, outbox, consumer lag, sagas, delivery breaker, reconciliation. */
import type Database from 'better-sqlite3';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createRegistry } from '../shared/metrics.js';
import { stmt } from './db/stmt.js';
import { groupLag, type EventLog } from './log/types.js';

/** Every metric a cell exports. */
export class CellMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpDuration: Histogram<'route' | 'method'>;
  /** The requests of a market moving by share, per market: what a step's SLO verdict compares (docs/weighted-shifts.md §Reads during a move by share). */
  readonly shareRequests: Counter<'market' | 'route' | 'method' | 'status'>;
  readonly shareDuration: Histogram<'market' | 'route' | 'method'>;
  readonly ordersAccepted: Counter<'market'>;
  readonly eventsProcessed: Counter<'type' | 'outcome'>;
  readonly sagaOutcomes: Counter<'outcome'>;
  readonly acceptToConfirmed: Histogram;
  readonly breakerState: Gauge<'dependency'>;
  readonly relayed: Counter;
  readonly reconcileFound: Counter<'kind'>;
  readonly reconcileLastFound: Gauge;

  constructor(cell: string) {
    this.registry = createRegistry('cell');
    this.registry.setDefaultLabels({ component: 'cell', cell });
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: 'cellsim_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'cellsim_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.shareRequests = new Counter({
      name: 'cellsim_share_requests_total',
      help: 'HTTP requests of markets moving by share (this cell has a share peer for them), by market, route, method and status',
      labelNames: ['market', 'route', 'method', 'status'],
      registers,
    });
    this.shareDuration = new Histogram({
      name: 'cellsim_share_request_duration_seconds',
      help: 'HTTP request latency of markets moving by share, by market and route',
      labelNames: ['market', 'route', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.ordersAccepted = new Counter({ name: 'cellsim_orders_accepted_total', help: 'orders created', labelNames: ['market'], registers });
    this.eventsProcessed = new Counter({
      name: 'cellsim_consumer_events_total',
      help: 'log events handled by the delivery consumer, by type and outcome (applied or duplicate)',
      labelNames: ['type', 'outcome'],
      registers,
    });
    this.sagaOutcomes = new Counter({
      name: 'cellsim_saga_outcomes_total',
      help: 'finished sagas by outcome (delivered, compensated, cancelled)',
      labelNames: ['outcome'],
      registers,
    });
    this.acceptToConfirmed = new Histogram({
      name: 'cellsim_order_confirm_seconds',
      help: 'time from order accepted to CONFIRMED',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.breakerState = new Gauge({
      name: 'cellsim_dependency_breaker_open',
      help: '1 while the circuit breaker of a dependency is open or half-open',
      labelNames: ['dependency'],
      registers,
    });
    this.relayed = new Counter({ name: 'cellsim_outbox_relayed_total', help: 'outbox rows moved to the log', registers });
    this.reconcileFound = new Counter({
      name: 'cellsim_reconcile_mismatches_total',
      help: 'order/delivery mismatches reconciliation found (and repaired), by kind',
      labelNames: ['kind'],
      registers,
    });
    this.reconcileLastFound = new Gauge({
      name: 'cellsim_reconcile_last_found',
      help: 'mismatches the last reconciliation run found: the alert fires while it is above 0',
      registers,
    });
  }

  /**
   * Adds the gauges read from the database at scrape time: outbox size and age, consumer lag per
   * partition, orders per market and the database's size.
   */
  bindStorage(db: Database.Database, log: EventLog, group: string): void {
    const registers = [this.registry];
    new Gauge({
      name: 'cellsim_outbox_pending',
      help: 'outbox rows not yet relayed to the log',
      registers,
      collect() {
        this.set((stmt(db, 'SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n);
      },
    });
    new Gauge({
      name: 'cellsim_outbox_lag_seconds',
      help: 'age of the oldest outbox row not yet relayed',
      registers,
      collect() {
        const row = stmt(db, 'SELECT MIN(created_at) AS t FROM outbox').get() as { t: number | null };
        this.set(row.t === null ? 0 : Math.max(0, (Date.now() - row.t) / 1000));
      },
    });
    new Gauge({
      name: 'cellsim_consumer_lag',
      help: 'log records not yet committed by the delivery consumer, per partition',
      labelNames: ['partition'],
      registers,
      async collect() {
        for (const [p, lag] of (await groupLag(log, group)).entries()) this.set({ partition: String(p) }, lag);
      },
    });
    new Gauge({
      name: 'cellsim_orders_stored',
      help: 'orders in the database, per market (the placement reads it)',
      labelNames: ['market'],
      registers,
      collect() {
        this.reset();
        for (const r of stmt(db, 'SELECT market, COUNT(*) AS n FROM orders GROUP BY market').all() as { market: string; n: number }[])
          this.set({ market: r.market }, r.n);
      },
    });
    new Gauge({
      name: 'cellsim_db_bytes',
      help: "size of the cell's SQLite database (pages in use, WAL excluded)",
      registers,
      collect() {
        this.set((db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number));
      },
    });
    new Gauge({
      name: 'cellsim_sagas_active',
      help: 'sagas not yet finished',
      registers,
      collect() {
        this.set((stmt(db, 'SELECT COUNT(*) AS n FROM sagas WHERE active = 1').get() as { n: number }).n);
      },
    });
  }
}
