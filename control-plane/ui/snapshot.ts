/**
 * What the console shows live, read in one pass (docs/console.md §Live state): cells with
 * health and market counts, routers and control-plane replicas from Consul's catalog, each
 * Envoy's xDS ACK/NACK state, migrations, evacuations and rollouts. Market counts come from the
 * xDS server's own market map (already followed from Consul), so a poll never lists 100,000
 * market keys.
 */
import { SERVICE_CELL } from '../../shared/consul.js';
import type { KvStore } from '../../shared/consul/kv-store.js';
import { CellRecordSchema, type KvLayout, type MarketRecord, type MigrationRecord, type RolloutRecord } from '../../shared/kv.js';
import { EvacuationSchema, type Evacuation } from '../admin/evacuation.js';
import { cellView, planeViews, serviceInstances, type CellView, type InstanceView } from '../admin/views.js';
import type { Migrator } from '../migration/migrator.js';
import type { RolloutManager } from '../rollout/manager.js';
import type { NodeStatus } from '../xds/cache/status.js';
import type { HeatScraper, MarketHeat } from './heat.js';
import type { PlaneRates, PlaneScraper } from './rates.js';

/** What the console reads from the xDS server of its process. */
export interface ConsoleEdge {
  current(): { markets: ReadonlyMap<string, MarketRecord> } | undefined;
  status(): { id: string; ready: boolean; nodes: NodeStatus[] };
}

/** What a snapshot is read from. */
export interface SnapshotDeps {
  kv: Pick<KvStore, 'listJson' | 'getJson' | 'consul'>;
  layout: KvLayout;
  edge: ConsoleEdge;
  migrator: Pick<Migrator, 'list'>;
  rollouts: Pick<RolloutManager, 'list' | 'running'>;
  /** Live traffic: the two planes' scrapers and where the Envoys' admin listeners are (none: no Envoy figures). */
  traffic?: {
    router: PlaneScraper;
    envoy: PlaneScraper;
    envoyAdmins: () => Promise<string[]>;
    routers?: InstanceView[];
    /** Orders/s per cell and market, from the cells' own metrics (the Markets page's heat map). */
    heat?: HeatScraper;
    /** A cell's or router's base URL (`https://` under TLS; default `http://`). */
    base?: (address: string, port: number) => string;
  };
}

/** One Envoy as the xDS server sees it: connected, and per type its last ACKed version and NACKs. */
export interface EnvoyView {
  id: string;
  connected: boolean;
  types: { type: string; acked?: string; sent?: string; nacks: number; lastNack?: string }[];
}

/** The console's live state at one moment. */
export interface Snapshot {
  at: string;
  /** Grows with every poll; pages and events carry it. */
  seq: number;
  cells: CellView[];
  routers: InstanceView[];
  controlPlanes: InstanceView[];
  envoys: EnvoyView[];
  markets: { total: number; frozen: number };
  /** Migrations not finished, then the latest finished ones (at most 20 in all). */
  migrations: MigrationRecord[];
  evacuations: Evacuation[];
  /** The running rollout, then the latest others (at most 5). */
  rollouts: RolloutRecord[];
  /** Whose view: the control plane that polled. */
  controlPlane: string;
  /** Request rate, 5xx share and p99 per plane, with their recent series. */
  rates: PlaneRates[];
  /** The busiest markets' orders/s per cell (none without a heat scraper). */
  heat?: MarketHeat;
}

const FINISHED = new Set(['done', 'rolled-back', 'failed']);

/** Per-cell market counts and the frozen count, from the edge's market map. */
export function countMarkets(markets: ReadonlyMap<string, MarketRecord> | undefined): { byCell: Map<string, number>; frozen: number } {
  const byCell = new Map<string, number>();
  let frozen = 0;
  for (const m of markets?.values() ?? []) {
    byCell.set(m.cell, (byCell.get(m.cell) ?? 0) + 1);
    if (m.state === 'frozen') frozen++;
  }
  return { byCell, frozen };
}

/** Reads one snapshot (several small Consul reads in parallel, none of them the market map). */
export async function readSnapshot(d: SnapshotDeps, seq: number): Promise<Snapshot> {
  // Scrapes run beside the Consul reads, on the routers of the previous read (the first read has none).
  const scraped = readRates(d, d.traffic?.routers ?? []);
  const [{ values: cellRecs }, instances, planes, migrations, rollouts] = await Promise.all([
    d.kv.listJson(CellRecordSchema, d.layout.cellsPrefix),
    serviceInstances(d.kv.consul, SERVICE_CELL),
    planeViews(d.kv.consul),
    d.migrator.list(),
    d.rollouts.list(),
  ]);
  const markets = d.edge.current()?.markets;
  const counts = countMarkets(markets);
  const cells: CellView[] = cellRecs
    .map(({ value: c }) => cellView(c, instances, counts.byCell.get(c.id) ?? 0))
    .sort((a, b) => a.id.localeCompare(b.id));
  const evacuations = (
    await Promise.all(cells.filter((c) => c.state !== 'active').map((c) => d.kv.getJson(EvacuationSchema, d.layout.evacuationKey(c.id))))
  )
    .map((e) => e?.value)
    .filter((e): e is Evacuation => e !== undefined);
  if (d.traffic) d.traffic.routers = planes.routers;
  const heat = d.traffic?.heat?.sample(
    cells.flatMap((c) =>
      c.instances.filter((i) => i.status === 'passing').map((i) => ({ cell: c.id, url: `${baseOf(d)(i.address, i.port)}/metrics` })),
    ),
  );
  const rates = await scraped;
  const running = d.rollouts.running();
  const status = d.edge.status();
  return {
    at: new Date().toISOString(),
    seq,
    cells,
    routers: planes.routers,
    controlPlanes: planes.xds,
    envoys: status.nodes.map((n) => ({
      id: n.id,
      connected: n.connected,
      types: Object.entries(n.types).map(([type, t]) => ({
        type,
        acked: t.lastAckedVersion,
        sent: t.lastSentVersion,
        nacks: t.nacks,
        lastNack: t.lastNack?.error,
      })),
    })),
    markets: { total: markets?.size ?? 0, frozen: counts.frozen },
    migrations: [...migrations.filter((m) => !FINISHED.has(m.state)), ...migrations.filter((m) => FINISHED.has(m.state))].slice(0, 20),
    evacuations,
    rollouts: [...(running ? [running] : []), ...rollouts.filter((r) => r.id !== running?.id)].slice(0, 5),
    controlPlane: status.id,
    rates,
    heat: await heat,
  };
}

/** How a cell's or router's base URL is built: the traffic's scheme, plain HTTP by default. */
function baseOf(d: SnapshotDeps): (address: string, port: number) => string {
  return d.traffic?.base ?? ((address, port) => `http://${address}:${port}`);
}

/** Scrapes both planes at the same moment (routers from Consul's catalog, Envoys' admin listeners from `traffic.envoyAdmins`). */
async function readRates(d: SnapshotDeps, routers: InstanceView[]): Promise<PlaneRates[]> {
  if (!d.traffic) return [];
  const now = Date.now();
  const admins = await d.traffic.envoyAdmins().catch(() => []);
  return Promise.all([
    d.traffic.router.sample(
      routers.map((r) => `${baseOf(d)(r.address, r.port)}/metrics`),
      now,
    ),
    d.traffic.envoy.sample(
      admins.map((a) => `${a}/stats/prometheus?usedonly`),
      now,
    ),
  ]);
}
