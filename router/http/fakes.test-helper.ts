/**
 * Deps of the router's app pieces for unit tests without Consul or a cell: the real in-memory
 * table (RoutingStore, Resolver), hold queue, isolation and metrics; a proxy that records what
 * it is asked to forward and answers what the test says; a logger that keeps its lines.
 */
import { Readable } from 'node:stream';
import type { Registry } from 'prom-client';
import type { CellRecord } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import { createRegistry } from '../../shared/metrics.js';
import { RoutingStore } from '../../shared/routing-store.js';
import { HoldQueue } from '../hold/index.js';
import { Isolation } from '../isolation/index.js';
import { createRouterMetrics } from '../metrics.js';
import type { ForwardRequest, Proxy, Upstream } from '../proxy/index.js';
import { Resolver, type Route } from '../table/resolver.js';
import type { TableStatus } from '../table/source.js';
import type { RouterDeps } from './deps.js';

/** A logged line. */
export interface Line {
  level: 'warn' | 'error';
  obj: unknown;
  msg: string;
}

/** A cell record with defaults. */
export function cellRecord(id: string, extra: Partial<CellRecord> = {}): [string, CellRecord] {
  return [id, { id, state: 'active', canary: false, global: false, capacity: 10, version: 'v1', ...extra }];
}

/** An upstream answer with a text body. */
export function upstream(status: number, text: string | null, headers: Record<string, string | string[]> = {}): Upstream {
  return { status, headers, body: text === null ? null : Readable.from([Buffer.from(text)]) };
}

/** The deps, their parts, and what the fakes saw. */
export function fakeRouterDeps(opts: { ready?: boolean; holdMs?: number } = {}) {
  const registry = createRegistry('router-http-test');
  const metrics = createRouterMetrics(registry);
  const store = new RoutingStore();
  const resolver = new Resolver(store, metrics);
  const hold = new HoldQueue({ holdMs: opts.holdMs ?? 200 });
  store.onChange((c) => {
    if (c.kind === 'markets') for (const id of c.ids) hold.release(id);
  });
  const isolation = new Isolation({ breaker: { consecutiveFailures: 2, openMs: 60_000 } }, metrics);
  const lines: Line[] = [];
  const logger = {
    warn: (obj: unknown, msg: string) => lines.push({ level: 'warn', obj, msg }),
    error: (obj: unknown, msg: string) => lines.push({ level: 'error', obj, msg }),
  } as unknown as Logger;
  const forwarded: { req: ForwardRequest; route: Route }[] = [];
  const proxy = {
    answer: async (_req: ForwardRequest, _route: Route): Promise<Upstream> => upstream(200, 'ok'),
    async forward(req: ForwardRequest, route: Route): Promise<Upstream> {
      forwarded.push({ req, route });
      return this.answer(req, route);
    },
  };
  const status = { ready: opts.ready ?? true, degraded: false, source: 'consul' } as TableStatus;
  const table: { status(): TableStatus; ready?: boolean } = { status: () => status, ready: opts.ready ?? true };
  const deps: RouterDeps = {
    id: 'r-test',
    resolver,
    table,
    proxy: proxy as unknown as Proxy,
    isolation,
    hold,
    registry,
    metrics,
    logger,
  };
  return { deps, store, table, status, proxy, forwarded, lines, registry: registry };
}

/** The value of a counter or gauge with exactly these labels (0 when never set). */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
  return hit?.value ?? 0;
}
