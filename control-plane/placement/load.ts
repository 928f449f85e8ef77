/**
 * Each cell's measured load, from its own metrics (`/metrics` of its active instances, scraped twice
 * `windowMs` apart): requests per second and p99 of its user routes, orders stored, database size,
 * and each market's share of the requests (by the orders it accepted in the window, else by the
 * orders it stores). docs/operators.md §Placement by load.
 */
import type { KvStore } from '../../shared/consul/kv-store.js';
import { CellRecordSchema, MarketRecordSchema, type CellRecord, type KvLayout } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import { diff, parsePrometheus, quantileMs, sum, trafficOf, type Sample, type Traffic } from '../rollout/prom.js';
import type { MarketLoad } from './plan.js';

/** The URLs of a cell's passing instances of a color, and their metrics (control-plane/migration/cell-client.ts HttpCellAdmin). */
export interface CellInstances {
  instances(cell: string, color?: string): Promise<string[]>;
  /** The text of `<url>/metrics` (over HTTPS with the control plane's certificate under TLS). */
  metrics(url: string): Promise<string>;
}

/** One cell's load as measured. */
export interface CellLoad {
  cell: string;
  capacity: number;
  markets: number;
  rps: number;
  /** p99 of the user routes in the window (ms; null without requests). */
  p99Ms: number | null;
  orders: number;
  dbBytes: number;
  /** Instances that answered both scrapes. */
  scraped: number;
}

/** The load of every cell and market. */
export interface LoadReport {
  windowMs: number;
  at: string;
  cells: CellLoad[];
  markets: MarketLoad[];
}

interface Scrape {
  traffic: Traffic;
  accepted: Map<string, number>;
  stored: Map<string, number>;
  dbBytes: number;
}

function read(samples: Sample[]): Scrape {
  const accepted = new Map<string, number>();
  const stored = new Map<string, number>();
  let dbBytes = 0;
  for (const s of samples) {
    const m = s.labels.market;
    if (s.name === 'cellsim_orders_accepted_total' && m) accepted.set(m, (accepted.get(m) ?? 0) + s.value);
    else if (s.name === 'cellsim_orders_stored' && m) stored.set(m, Math.max(stored.get(m) ?? 0, s.value));
    else if (s.name === 'cellsim_db_bytes') dbBytes = Math.max(dbBytes, s.value);
  }
  return { traffic: trafficOf(samples), accepted, stored, dbBytes };
}

/** Measures every cell's load over `windowMs`. */
export async function measureLoad(
  d: { kv: KvStore; layout: KvLayout; cells: CellInstances; log: Logger },
  windowMs = 3000,
): Promise<LoadReport> {
  const records = (await d.kv.listJson(CellRecordSchema, d.layout.cellsPrefix)).values.map((v) => v.value);
  const owners = new Map<string, string[]>();
  for (const m of (await d.kv.listJson(MarketRecordSchema, d.layout.marketsPrefix)).values) {
    const id = d.layout.marketFromKey(m.key);
    if (id) owners.set(m.value.cell, [...(owners.get(m.value.cell) ?? []), id]);
  }
  const urls = new Map<string, string[]>();
  for (const c of records) urls.set(c.id, await d.cells.instances(c.id, c.activeColor).catch(() => []));
  const scrapeAll = async () => {
    const out = new Map<string, Scrape[]>();
    await Promise.all(
      records.map(async (c) => {
        const parts: Scrape[] = [];
        for (const url of urls.get(c.id) ?? []) {
          try {
            parts.push(read(parsePrometheus(await d.cells.metrics(url))));
          } catch (err) {
            d.log.warn({ cell: c.id, err: (err as Error).message }, 'metrics scrape failed');
          }
        }
        out.set(c.id, parts);
      }),
    );
    return out;
  };
  const t0 = Date.now();
  const before = await scrapeAll();
  await new Promise((r) => setTimeout(r, windowMs));
  const after = await scrapeAll();
  const seconds = Math.max(0.001, (Date.now() - t0) / 1000);
  const cells: CellLoad[] = [];
  const markets: MarketLoad[] = [];
  for (const c of records) {
    const a = after.get(c.id) ?? [];
    const b = before.get(c.id) ?? [];
    const n = Math.min(a.length, b.length);
    const traffic = diff(sum(a.slice(0, n).map((x) => x.traffic)), sum(b.slice(0, n).map((x) => x.traffic)));
    const rps = traffic.requests / seconds;
    cells.push(cellLoad(c, owners.get(c.id)?.length ?? 0, rps, quantileMs(traffic, 0.99), a.slice(0, n), n));
    markets.push(...shareOut(c.id, owners.get(c.id) ?? [], rps, a.slice(0, n), b.slice(0, n)));
  }
  return { windowMs, at: new Date().toISOString(), cells, markets };
}

function cellLoad(c: CellRecord, markets: number, rps: number, p99Ms: number | null, now: Scrape[], scraped: number): CellLoad {
  let orders = 0;
  let dbBytes = 0;
  for (const s of now) {
    orders = Math.max(
      orders,
      [...s.stored.values()].reduce((x, y) => x + y, 0),
    );
    dbBytes = Math.max(dbBytes, s.dbBytes);
  }
  return { cell: c.id, capacity: c.capacity, markets, rps: round(rps), p99Ms, orders, dbBytes, scraped };
}

/** Splits a cell's rps over its markets by orders accepted in the window, else by orders stored. */
function shareOut(cell: string, owned: string[], rps: number, now: Scrape[], then: Scrape[]): MarketLoad[] {
  const weight = new Map<string, number>();
  for (let i = 0; i < now.length; i++)
    for (const [m, v] of now[i]!.accepted) weight.set(m, (weight.get(m) ?? 0) + v - (then[i]!.accepted.get(m) ?? 0));
  let total = owned.reduce((n, m) => n + Math.max(0, weight.get(m) ?? 0), 0);
  if (total === 0) {
    weight.clear();
    for (const s of now) for (const [m, v] of s.stored) weight.set(m, Math.max(weight.get(m) ?? 0, v));
    total = owned.reduce((n, m) => n + (weight.get(m) ?? 0), 0);
  }
  return owned.map((market) => ({ market, cell, rps: total > 0 ? round((rps * Math.max(0, weight.get(market) ?? 0)) / total) : 0 }));
}

const round = (n: number) => Math.round(n * 100) / 100;
