/** Read models of the admin API: cells with health and markets, the market map, the status summary. */
import { SERVICE_CELL, SERVICE_ROUTER, SERVICE_XDS } from '../../shared/consul.js';
import { CellRecordSchema, MarketRecordSchema, type KvLayout } from '../../shared/kv.js';
import type { KvStore } from './kv-store.js';

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

interface HealthEntry {
  Service: { ID: string; Address: string; Port: number; Meta?: Record<string, string> | null };
  Checks: { Status: string }[];
}

/** Every instance of a service, passing or not. */
export async function serviceInstances(consulUrl: string, service: string): Promise<InstanceView[]> {
  const res = await fetch(`${consulUrl}/v1/health/service/${service}`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`consul health query failed: ${res.status}`);
  return ((await res.json()) as HealthEntry[]).map((e) => {
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

/** Every cell with its market count and health (healthy = a passing instance of its active color). */
export async function cellViews(kv: KvStore, layout: KvLayout, consulUrl: string): Promise<CellView[]> {
  const [{ values }, markets, instances] = await Promise.all([
    kv.listJson(CellRecordSchema, layout.cellsPrefix),
    marketViews(kv, layout),
    serviceInstances(consulUrl, SERVICE_CELL),
  ]);
  return values
    .map(({ value: c }) => {
      const mine = instances.filter((i) => i.meta.cell === c.id);
      const activeColor = c.activeColor ?? 'blue';
      const healthy = mine.some((i) => i.status === 'passing' && (c.activeColor === undefined || i.meta.color === activeColor));
      return {
        id: c.id,
        state: c.state,
        canary: c.canary,
        global: c.global,
        capacity: c.capacity,
        version: c.version,
        activeColor,
        markets: markets.filter((m) => m.cell === c.id).length,
        health: healthy ? ('healthy' as const) : ('unhealthy' as const),
        instances: mine,
      };
    })
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** The services besides cells: routers and xDS servers with their health. */
export async function planeViews(consulUrl: string): Promise<{ routers: InstanceView[]; xds: InstanceView[] }> {
  const [routers, xds] = await Promise.all([serviceInstances(consulUrl, SERVICE_ROUTER), serviceInstances(consulUrl, SERVICE_XDS)]);
  return { routers, xds };
}
