/**
 * Seeds Consul with the cell records and the market map. Create-only (CAS index 0), so a
 * persistent Consul keeps what operators changed since; returns what is in Consul afterwards.
 */
import type { ConsulClient } from '../shared/consul/client.js';
import { supervisorConsul } from './acl.js';
import { CellRecordSchema, KvLayout, MarketRecordSchema, decodeJson, encodeJson, type CellRecord } from '../shared/kv.js';
import { TOPOLOGY_DEFAULTS, cellIds, globalCell, type TopologyConfig } from './config.js';
import { assignMarkets, type SeedMarket } from './markets.js';
import { MarketWriter } from '../shared/markets/writer.js';

async function createOnly(consul: ConsulClient, key: string, value: string): Promise<boolean> {
  return consul.kv.put(key, value, { cas: 0, timeoutMs: 5000 });
}

async function readPrefix(consul: ConsulClient, prefix: string): Promise<{ key: string; value: string }[]> {
  const { value } = await consul.kv.list(prefix, { timeoutMs: 5000 });
  return value.map((i) => ({ key: i.key, value: i.value ?? '' }));
}

/** What Consul holds after seeding. */
export interface Seeded {
  cells: Map<string, CellRecord>;
  /** market → owning cell */
  markets: Map<string, string>;
  created: number;
}

/** Writes cells/ and markets/ records that do not exist yet. */
export async function seedConsul(cfg: TopologyConfig, url: string, markets: SeedMarket[]): Promise<Seeded> {
  return seedWith(supervisorConsul(cfg, url), cfg, markets);
}

/** What to seed: the cells cell-0 … cell-(n-1) at a version, under a KV prefix. */
export type SeedPlan = Pick<TopologyConfig, 'prefix' | 'cells' | 'initialVersion'>;

/** {@link seedConsul} through a client that carries its own token (`cellctl seed`, topology/seed-cli.ts). */
export async function seedWith(consul: ConsulClient, cfg: SeedPlan, markets: SeedMarket[]): Promise<Seeded> {
  const layout = new KvLayout(cfg.prefix);
  const ids = cellIds(cfg.cells);
  const global = globalCell(cfg.cells);
  let created = 0;
  for (const id of ids) {
    const rec: CellRecord = {
      id,
      state: 'active',
      canary: id === 'cell-0',
      global: id === global,
      capacity: id === 'cell-0' ? TOPOLOGY_DEFAULTS.canaryCapacity : TOPOLOGY_DEFAULTS.capacity,
      version: cfg.initialVersion,
      activeColor: 'blue',
    };
    if (await createOnly(consul, layout.cellKey(id), encodeJson(CellRecordSchema, rec))) created++;
  }
  const existing = new Set((await readPrefix(consul, layout.marketsPrefix)).map((e) => layout.marketFromKey(e.key)));
  const plan = assignMarkets(markets, ids, 'cell-0');
  if (existing.size === 0) {
    const records = [...plan].map(([market, cell]) => [market, { cell, state: 'active' as const, epoch: 1 }] as const);
    created += await new MarketWriter(consul, layout).createMany(records);
  }
  const cells = new Map<string, CellRecord>();
  for (const e of await readPrefix(consul, layout.cellsPrefix)) {
    const d = decodeJson(CellRecordSchema, e.value);
    if (d.ok) cells.set(d.value.id, d.value);
  }
  const owners = new Map<string, string>();
  for (const e of await readPrefix(consul, layout.marketsPrefix)) {
    const m = layout.marketFromKey(e.key);
    const d = decodeJson(MarketRecordSchema, e.value);
    if (m && d.ok) owners.set(m, d.value.cell);
  }
  return { cells, markets: owners, created };
}

/**
 * Gives each of the split cells' records that has none a `deliveryVersion`: its `version`, the one
 * its delivery instances start on. From then on a rollout of the cell's order service (which moves
 * `version`) leaves the delivery service's version where it was, at the next `cellctl up` too
 * (docs/kafka.md §Rolling out the delivery service). Check-and-set on the record read; a record
 * changed meanwhile is read again. Updates `seeded` to what Consul holds.
 */
export async function pinDeliveryVersions(cfg: TopologyConfig, url: string, seeded: Seeded, split: readonly string[]): Promise<void> {
  const consul = supervisorConsul(cfg, url);
  const layout = new KvLayout(cfg.prefix);
  for (const id of split) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const { value: pair } = await consul.kv.get(layout.cellKey(id), { timeoutMs: 5000 });
      const d = pair?.value ? decodeJson(CellRecordSchema, pair.value) : undefined;
      if (!pair || !d?.ok) break;
      if (d.value.deliveryVersion !== undefined) {
        seeded.cells.set(id, d.value);
        break;
      }
      const rec: CellRecord = { ...d.value, deliveryVersion: d.value.version };
      if (await consul.kv.put(layout.cellKey(id), encodeJson(CellRecordSchema, rec), { cas: pair.modifyIndex, timeoutMs: 5000 })) {
        seeded.cells.set(id, rec);
        break;
      }
    }
  }
}
