/**
 * What a drill reads from Consul: the market → cell map and the versions cells run, through a
 * client whose token may read them (a topology's router token: docs/security.md §Consul ACLs).
 */
import { SERVICE_CELL, type ConsulClient } from '../../shared/consul.js';
import { decodeJson, KvLayout, MarketRecordSchema, MigrationRecordSchema } from '../../shared/kv.js';
import type { CellHealth } from './types.js';

/** market → owning cell, from `<prefix>markets/` (invalid values skipped, as the routers do). */
export async function readOwners(consul: ConsulClient, prefix = 'cellsim/'): Promise<Record<string, string>> {
  const layout = new KvLayout(prefix);
  const { value: items } = await consul.kv.list(layout.marketsPrefix, { timeoutMs: 5000 });
  const owners: Record<string, string> = {};
  for (const kv of items) {
    const market = layout.marketFromKey(kv.key);
    const rec = decodeJson(MarketRecordSchema, kv.value);
    if (market && rec.ok) owners[market] = rec.value.cell;
  }
  return owners;
}

/** cell → versions of its passing `cellsim-cell` instances. */
export async function readCellVersions(consul: ConsulClient): Promise<Record<string, string[]>> {
  const { value: entries } = await consul.health.service(SERVICE_CELL, {
    passing: true,
    timeoutMs: 2000,
  });
  const out: Record<string, string[]> = {};
  for (const e of entries) {
    const cell = e.Service.Meta?.cell;
    const version = e.Service.Meta?.version;
    if (!cell || !version) continue;
    const list = (out[cell] ??= []);
    if (!list.includes(version)) list.push(version);
  }
  return out;
}

/**
 * cell → whether one of its `cellsim-cell` instances passes every check, node checks included
 * (Serf's `serfHealth`: a host cut off is declared dead), as a move's validation and the routers
 * see it; `failing`: each non-passing check of its instances, `node check status: output`.
 */
export async function readCellHealth(consul: ConsulClient): Promise<Record<string, CellHealth>> {
  const { value: entries } = await consul.health.service(SERVICE_CELL, { timeoutMs: 2000 });
  const out: Record<string, CellHealth> = {};
  for (const e of entries) {
    const cell = e.Service.Meta?.cell;
    if (!cell) continue;
    const h = (out[cell] ??= { passing: false, failing: [] });
    const bad = e.Checks.filter((c) => c.Status !== 'passing');
    if (bad.length === 0) h.passing = true;
    for (const c of bad) h.failing.push(`${e.Node.Node} ${c.CheckID} ${c.Status}: ${c.Output.trim().split('\n')[0]?.slice(0, 160) ?? ''}`);
  }
  return out;
}

/** A market's last migration record (`<prefix>migrations/<market>`): its id, state, cells and history notes; undefined when none. */
export async function readMigration(
  consul: ConsulClient,
  market: string,
  prefix = 'cellsim/',
): Promise<{ id: string; state: string; from: string; to: string; notes: string[] } | undefined> {
  const layout = new KvLayout(prefix);
  const { value: item } = await consul.kv.get(layout.migrationKey(market), { timeoutMs: 2000 });
  if (!item) return undefined;
  const rec = decodeJson(MigrationRecordSchema, item.value);
  if (!rec.ok) return undefined;
  const { id, state, from, to, history } = rec.value;
  return { id, state, from, to, notes: history.flatMap((h) => (h.note ? [h.note] : [])) };
}
