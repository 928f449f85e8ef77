/** The control plane's xDS metrics (prom-client), registered on the process registry. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Every xDS metric, created once per process. */
export class XdsMetrics {
  readonly pushes: Counter<'type' | 'mode'>;
  readonly pushLatency: Histogram<'type'>;
  readonly responseBytes: Counter<'type' | 'mode'>;
  readonly connectedNodes: Gauge;
  readonly streams: Gauge<'mode'>;
  readonly nacks: Counter<'type'>;
  readonly staleNonces: Counter<'type'>;
  readonly buildSeconds: Histogram;
  readonly snapshotBytes: Gauge<'type'>;
  readonly snapshotResources: Gauge<'type'>;
  readonly publishes: Counter<'result'>;
  readonly invalidInputs: Counter<'kind'>;
  readonly source: Gauge<'source'>;
  readonly degraded: Gauge;
  readonly lastGoodWrites: Counter<'result'>;
  readonly lastGoodBytes: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.pushes = new Counter({ name: 'cellsim_xds_pushes_total', help: 'xDS responses sent', labelNames: ['type', 'mode'], registers });
    this.pushLatency = new Histogram({
      name: 'cellsim_xds_push_latency_seconds',
      help: 'from the Consul change that produced a snapshot to the ACK of the response carrying it',
      labelNames: ['type'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.responseBytes = new Counter({
      name: 'cellsim_xds_response_bytes_total',
      help: 'encoded resource bytes sent in xDS responses',
      labelNames: ['type', 'mode'],
      registers,
    });
    this.connectedNodes = new Gauge({ name: 'cellsim_xds_connected_nodes', help: 'nodes with an open ADS stream', registers });
    this.streams = new Gauge({ name: 'cellsim_xds_streams', help: 'open ADS streams', labelNames: ['mode'], registers });
    this.nacks = new Counter({
      name: 'cellsim_xds_nacks_total',
      help: 'responses rejected by a node (NACK)',
      labelNames: ['type'],
      registers,
    });
    this.staleNonces = new Counter({
      name: 'cellsim_xds_stale_nonces_total',
      help: 'requests ignored because their nonce was not the latest',
      labelNames: ['type'],
      registers,
    });
    this.buildSeconds = new Histogram({
      name: 'cellsim_xds_snapshot_build_seconds',
      help: 'time to build and check the snapshots of one change',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.snapshotBytes = new Gauge({
      name: 'cellsim_xds_snapshot_bytes',
      help: 'encoded size of the current snapshot',
      labelNames: ['type'],
      registers,
    });
    this.snapshotResources = new Gauge({
      name: 'cellsim_xds_snapshot_resources',
      help: 'resources in the current snapshot',
      labelNames: ['type'],
      registers,
    });
    this.publishes = new Counter({
      name: 'cellsim_xds_publishes_total',
      help: 'snapshot publications by result (published, unchanged, refused)',
      labelNames: ['result'],
      registers,
    });
    this.invalidInputs = new Counter({
      name: 'cellsim_xds_invalid_inputs_total',
      help: 'Consul values or endpoints left out because they failed validation',
      labelNames: ['kind'],
      registers,
    });
    this.source = new Gauge({
      name: 'cellsim_xds_source',
      help: 'where the served routing view comes from (1 on the current one): none, snapshot (last good view on disk), consul',
      labelNames: ['source'],
      registers,
    });
    this.degraded = new Gauge({
      name: 'cellsim_xds_degraded',
      help: '1 while serving without a live Consul view (Consul unreachable, or parts still from the last good view on disk)',
      registers,
    });
    this.lastGoodWrites = new Counter({
      name: 'cellsim_xds_last_good_writes_total',
      help: 'writes of the last good routing view to disk, by result (ok, failed)',
      labelNames: ['result'],
      registers,
    });
    this.lastGoodBytes = new Gauge({ name: 'cellsim_xds_last_good_bytes', help: 'size of the last good view file written', registers });
  }

  /** Sets the source and degraded gauges (called on every scrape and status read). */
  setHealth(source: 'none' | 'snapshot' | 'consul', degraded: boolean): void {
    for (const s of ['none', 'snapshot', 'consul'] as const) this.source.set({ source: s }, s === source ? 1 : 0);
    this.degraded.set(degraded ? 1 : 0);
  }
}
