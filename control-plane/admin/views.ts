/** Read models of the admin API: cells with health and markets, the market map, the status summary. */
import { SERVICE_CELL, SERVICE_ROUTER, SERVICE_XDS, type ConsulClient } from '../../shared/consul.js';
import { CellRecordSchema, MarketRecordSchema, type CellRecord, type KvLayout } from '../../shared/kv.js';
import type { KvStore } from '../../shared/consul/kv-store.js';

/** One instance of a service with its health. */
export interface InstanceView {
  id: string;
  address: string;
  port: number;
  status: 'passing' | 'warning' | 'critical';
  meta: Record<string, string>;
}

/** A cell as `cellctl cells` shows it. */
export interface CellView {
  id: string;
  state: string;
  canary: boolean;
  global: boolean;
  capacity: number;
  version: string;
  activeColor: 'blue' | 'green';
  /** A weighted shift in progress (the record's `shift`, docs/weighted-shifts.md). */
  shift?: { color: 'blue' | 'green'; percent: number };
  markets: number;
  health: 'healthy' | 'unhealthy';
  instances: InstanceView[];
}

/** A market as `cellctl markets` shows it. */
export interface MarketView {
  market: string;
  cell: string;
  state: string;
  epoch: number;
}

/** Every instance of a service, passing or not. */
export async function serviceInstances(consul: ConsulClient, service: string): Promise<InstanceView[]> {
  const { value } = await consul.health.service(service, { timeoutMs: 5000 });
  return value.map((e) => {
    const statuses = e.Checks.map((c) => c.Status);
    const status = statuses.includes('critical') ? 'critical' : statuses.includes('warning') ? 'warning' : 'passing';
    return { id: e.Service.ID, address: e.Service.Address, port: e.Service.Port, status, meta: e.Service.Meta ?? {} };
  });
}

/** The market map, sorted by market. */
export async function marketViews(kv: KvStore, layout: KvLayout): Promise<MarketView[]> {
  const { values } = await kv.listJson(MarketRecordSchema, layout.marketsPrefix);
  return values.map((v) => ({ market: layout.marketFromKey(v.key) ?? v.key, ...v.value })).sort((a, b) => a.market.localeCompare(b.market));
}

/** Healthy = one of the cell's instances `mine` is passing and of its active color (any color when it has none). */
export function cellHealthy(c: Pick<CellRecord, 'activeColor'>, mine: readonly InstanceView[]): boolean {
  return mine.some((i) => i.status === 'passing' && (c.activeColor === undefined || i.meta.color === c.activeColor));
}

/** Every cell with its market count and health (healthy = a passing instance of its active color). */
export async function cellViews(kv: KvStore, layout: KvLayout): Promise<CellView[]> {
  const [{ values }, markets, instances] = await Promise.all([
    kv.listJson(CellRecordSchema, layout.cellsPrefix),
    marketViews(kv, layout),
    serviceInstances(kv.consul, SERVICE_CELL),
  ]);
  return values
    .map(({ value: c }) => cellView(c, instances, markets.filter((m) => m.cell === c.id).length))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** A cell's view from its record, the cell instances (its own are picked out) and its market count. */
export function cellView(c: CellRecord, instances: readonly InstanceView[], markets: number): CellView {
  const mine = instances.filter((i) => i.meta.cell === c.id);
  return {
    id: c.id,
    state: c.state,
    canary: c.canary,
    global: c.global,
    capacity: c.capacity,
    version: c.version,
    activeColor: c.activeColor ?? 'blue',
    ...(c.shift ? { shift: c.shift } : {}),
    markets,
    health: cellHealthy(c, mine) ? 'healthy' : 'unhealthy',
    instances: mine,
  };
}

/** The services besides cells: routers and xDS servers with their health. */
export async function planeViews(consul: ConsulClient): Promise<{ routers: InstanceView[]; xds: InstanceView[] }> {
  const [routers, xds] = await Promise.all([serviceInstances(consul, SERVICE_ROUTER), serviceInstances(consul, SERVICE_XDS)]);
  return { routers, xds };
}
