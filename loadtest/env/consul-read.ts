/** What a drill reads from Consul: the market → cell map and the versions cells run. */
import { SERVICE_CELL } from '../../shared/consul.js';
import { decodeJson, KvLayout, MarketRecordSchema } from '../../shared/kv.js';

interface RawKv {
  Key: string;
  Value: string | null;
}

/** market → owning cell, from `<prefix>markets/` (invalid values skipped, as the routers do). */
export async function readOwners(consulUrl: string, prefix = 'cellsim/'): Promise<Record<string, string>> {
  const layout = new KvLayout(prefix);
  const res = await fetch(`${consulUrl}/v1/kv/${layout.marketsPrefix}?recurse=true`, { signal: AbortSignal.timeout(5000) });
  if (res.status === 404) return {};
  if (!res.ok) throw new Error(`consul ${res.status} reading ${layout.marketsPrefix}`);
  const owners: Record<string, string> = {};
  for (const kv of (await res.json()) as RawKv[]) {
    const market = layout.marketFromKey(kv.Key);
    const rec = decodeJson(MarketRecordSchema, kv.Value === null ? null : Buffer.from(kv.Value, 'base64').toString('utf8'));
    if (market && rec.ok) owners[market] = rec.value.cell;
  }
  return owners;
}

interface RawHealth {
  Service: { Meta?: Record<string, string> | null };
}

/** cell → versions of its passing `cellsim-cell` instances. */
export async function readCellVersions(consulUrl: string): Promise<Record<string, string[]>> {
  const res = await fetch(`${consulUrl}/v1/health/service/${SERVICE_CELL}?passing=true`, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`consul ${res.status} reading ${SERVICE_CELL} health`);
  const out: Record<string, string[]> = {};
  for (const e of (await res.json()) as RawHealth[]) {
    const cell = e.Service.Meta?.cell;
    const version = e.Service.Meta?.version;
    if (!cell || !version) continue;
    const list = (out[cell] ??= []);
    if (!list.includes(version)) list.push(version);
  }
  return out;
}
