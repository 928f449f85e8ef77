/**
 * The router's Prometheus metrics, created once per process on its registry. With --workers n the
 * workers' registries are aggregated (cluster-metrics.ts): counters and histograms add up, gauges
 * about the table take the worst worker's value.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Every metric the router exports. */
export interface RouterMetrics {
  requests: Counter<'cell' | 'status'>;
  duration: Histogram<'cell'>;
  /** A/B experiments (docs/experiments.md): keyed requests by market, arm and its color. */
  experimentRequests: Counter<'market' | 'arm' | 'color' | 'status'>;
  experimentDuration: Histogram<'market' | 'arm' | 'color'>;
  breakerState: Gauge<'cell'>;
  inflight: Gauge<'cell'>;
  ejections: Counter<'cell'>;
  retries: Counter<'cell'>;
  rejected: Counter<'reason'>;
  cache: Counter<'result'>;
  tableAge: Gauge;
  tableSize: Gauge<'kind'>;
  degraded: Gauge;
  watchErrors: Counter<'watch'>;
  invalidValues: Counter<'kind'>;
  listingBytes: Gauge<'watch'>;
  applySeconds: Histogram<'stage'>;
  hold: Counter<'result'>;
  holdWaiting: Gauge;
  snapshotWrites: Counter<'result'>;
}

/** Registers the router metrics on `registry`. */
export function createRouterMetrics(registry: Registry): RouterMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'cellsim_router_requests_total',
      help: 'Requests answered, by owning cell ("-" when none) and status.',
      labelNames: ['cell', 'status'],
      registers,
    }),
    duration: new Histogram({
      name: 'cellsim_router_request_duration_seconds',
      help: 'Time from request to response headers, by cell.',
      labelNames: ['cell'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    experimentRequests: new Counter({
      name: 'cellsim_router_experiment_requests_total',
      help: 'Requests in an A/B experiment, by market, arm (variant or control), its color and status.',
      labelNames: ['market', 'arm', 'color', 'status'],
      registers,
    }),
    experimentDuration: new Histogram({
      name: 'cellsim_router_experiment_duration_seconds',
      help: 'Time from request to response headers of requests in an A/B experiment, by market, arm and color.',
      labelNames: ['market', 'arm', 'color'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    breakerState: new Gauge({
      name: 'cellsim_router_breaker_state',
      aggregator: 'max', // --workers n: each worker holds the whole table; the worst one counts
      help: 'Circuit breaker of each cell: 0 closed, 1 half-open, 2 open.',
      labelNames: ['cell'],
      registers,
    }),
    inflight: new Gauge({ name: 'cellsim_router_inflight', help: 'Requests in flight to each cell.', labelNames: ['cell'], registers }),
    ejections: new Counter({
      name: 'cellsim_router_outlier_ejections_total',
      help: 'Endpoints ejected by outlier detection.',
      labelNames: ['cell'],
      registers,
    }),
    retries: new Counter({
      name: 'cellsim_router_retries_total',
      help: 'Requests retried when safe: never sent, idempotent on another endpoint, or idempotent after a stale keep-alive connection.',
      labelNames: ['cell'],
      registers,
    }),
    rejected: new Counter({
      name: 'cellsim_router_rejected_total',
      help: 'Requests answered by the router itself, by reason (error code).',
      labelNames: ['reason'],
      registers,
    }),
    cache: new Counter({
      name: 'cellsim_router_route_cache_total',
      help: 'Route cache lookups: hit, miss, stale.',
      labelNames: ['result'],
      registers,
    }),
    tableAge: new Gauge({
      name: 'cellsim_router_table_age_seconds',
      aggregator: 'max', // --workers n: each worker holds the whole table; the worst one counts
      help: 'Seconds since every Consul watch last answered (or since the snapshot was saved).',
      registers,
    }),
    tableSize: new Gauge({
      name: 'cellsim_router_table_entries',
      aggregator: 'max', // --workers n: each worker holds the whole table; the worst one counts
      help: 'Entries in the routing table.',
      labelNames: ['kind'],
      registers,
    }),
    degraded: new Gauge({
      name: 'cellsim_router_degraded',
      aggregator: 'max', // --workers n: each worker holds the whole table; the worst one counts
      help: '1 while Consul is unreachable or the table is from the snapshot.',
      registers,
    }),
    watchErrors: new Counter({
      name: 'cellsim_router_consul_watch_errors_total',
      help: 'Consul blocking-query errors.',
      labelNames: ['watch'],
      registers,
    }),
    invalidValues: new Counter({
      name: 'cellsim_router_kv_invalid_total',
      help: 'Consul KV values that failed validation and were ignored.',
      labelNames: ['kind'],
      registers,
    }),
    listingBytes: new Gauge({
      name: 'cellsim_router_consul_listing_bytes',
      aggregator: 'max', // --workers n: each worker holds the whole table; the worst one counts
      help: 'Size of the last Consul answer of each watch.',
      labelNames: ['watch'],
      registers,
    }),
    applySeconds: new Histogram({
      name: 'cellsim_router_table_update_seconds',
      help: 'Cost of one markets change: fetch (Consul answer), parse and diff (worker thread), apply (main thread, after receipt).',
      labelNames: ['stage'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    hold: new Counter({
      name: 'cellsim_router_hold_total',
      help: 'Requests held for a frozen market, by outcome: released, timeout, full.',
      labelNames: ['result'],
      registers,
    }),
    holdWaiting: new Gauge({ name: 'cellsim_router_hold_waiting', help: 'Requests held right now.', registers }),
    snapshotWrites: new Counter({
      name: 'cellsim_router_snapshot_writes_total',
      help: 'Snapshot writes, by result.',
      labelNames: ['result'],
      registers,
    }),
  };
}
