/**
 * Fake dependencies of the admin API's route modules, for unit tests without Consul: a KV in a
 * Map (CAS as Consul does it: 0 = create only, N = only at ModifyIndex N), an audit log in an
 * array, and a migrator, rollout manager, evacuator and cell lifecycle whose methods a test replaces.
 */
import { Hono } from 'hono';
import type { z } from 'zod';
import type { KvStore, KvItem, PutOptions } from '../../../shared/consul/kv-store.js';
import { KvLayout, MarketRecordSchema, type AuditRecord, type CellRecord, type MarketRecord } from '../../../shared/kv.js';
import type { Logger } from '../../../shared/logger.js';
import type { Migrator } from '../../migration/migrator.js';
import type { RolloutManager } from '../../rollout/manager.js';
import type { AuditLog } from '../audit.js';
import type { Evacuator } from '../evacuation.js';
import type { AdminDeps } from './deps.js';
import type { LoadReport } from '../../placement/load.js';
import { installGuards } from './guards.js';

/** The operator token of the fakes, named `alice` (the audit's who). */
export const TOKEN = 'test-operator-token';
/** A read-only token, named `reader`. */
export const READ_TOKEN = 'test-read-only-token';

/** A KV in memory with the calls the routes make; `puts` lists every accepted or refused write. */
export class FakeKv {
  readonly items = new Map<string, KvItem>();
  readonly puts: { key: string; value: unknown; cas?: number; ok: boolean }[] = [];
  private index = 10;
  readonly consul = { health: { service: async () => ({ index: 1, value: [] }) } };

  set(key: string, value: unknown): void {
    this.items.set(key, { key, value: JSON.stringify(value), modifyIndex: ++this.index });
  }
  value(key: string): unknown {
    const it = this.items.get(key);
    return it ? JSON.parse(it.value) : undefined;
  }
  async getJson<T>(schema: z.ZodType<T>, key: string): Promise<{ value: T; item: KvItem } | undefined> {
    const item = this.items.get(key);
    return item ? { value: schema.parse(JSON.parse(item.value)), item } : undefined;
  }
  async listJson<T>(schema: z.ZodType<T>, prefix: string) {
    const values = [...this.items.values()]
      .filter((i) => i.key.startsWith(prefix))
      .map((item) => ({ key: item.key, value: schema.parse(JSON.parse(item.value)), item }));
    return { values, invalid: [] as string[] };
  }
  async putJson<T>(schema: z.ZodType<T>, key: string, value: T, opts: PutOptions = {}): Promise<boolean> {
    schema.parse(value);
    const cur = this.items.get(key);
    const ok = opts.cas === undefined || (opts.cas === 0 ? !cur : cur?.modifyIndex === opts.cas);
    this.puts.push({ key, value, cas: opts.cas, ok });
    if (ok) this.set(key, value);
    return ok;
  }
  async delete(key: string, cas?: number): Promise<boolean> {
    const cur = this.items.get(key);
    if (cas !== undefined && cur?.modifyIndex !== cas) return false;
    return this.items.delete(key) || true;
  }
}

/** A fake's method; a test replaces it with one taking the real method's arguments. */
export type Fake = (...args: never[]) => Promise<unknown>;

/** Errors logged by the code under test. */
export interface LoggedErrors {
  errors: { obj: unknown; msg: string }[];
}

/** Every fake, and `deps` built from them; `fn` replaces a method of one fake. */
export function fakeDeps() {
  const layout = new KvLayout('t/');
  const kv = new FakeKv();
  const audit: Omit<AuditRecord, 'at'>[] = [];
  const logged: LoggedErrors = { errors: [] };
  const log = { error: (obj: unknown, msg: string) => logged.errors.push({ obj, msg }), warn: () => {}, info: () => {} };
  const unset =
    (name: string): Fake =>
    async () => {
      throw new Error(`fake ${name} not set`);
    };
  const none: Fake = async () => undefined;
  const empty: Fake = async () => [];
  const migrator: Record<'plan' | 'start' | 'get' | 'list' | 'abort' | 'abortable', Fake> = {
    plan: unset('plan'),
    start: unset('start'),
    get: none,
    list: empty,
    abort: unset('abort'),
    abortable: unset('abortable'),
  };
  const rollouts: Record<'plan' | 'start' | 'abort' | 'abortable' | 'get' | 'list' | 'rollbackCell', Fake> & { running: () => unknown } = {
    plan: unset('plan'),
    start: unset('start'),
    abort: unset('abort'),
    abortable: unset('abortable'),
    get: none,
    list: empty,
    running: () => undefined,
    rollbackCell: unset('rollbackCell'),
  };
  const evacuator: Record<'plan' | 'start' | 'get' | 'busy', Fake> = {
    plan: unset('plan'),
    start: unset('start'),
    get: none,
    busy: async () => false,
  };
  const lifecycle: Record<'planAdd' | 'add' | 'checkRetire' | 'retire', Fake> & { supervised: () => boolean } = {
    planAdd: unset('planAdd'),
    add: unset('add'),
    checkRetire: unset('checkRetire'),
    retire: unset('retire'),
    supervised: () => true,
  };
  const delivery: Record<'plan' | 'apply', Fake> = { plan: unset('delivery.plan'), apply: unset('delivery.apply') };
  const placement: { measure: (windowMs: number) => Promise<LoadReport> } = {
    measure: async (windowMs) => ({ windowMs, at: 'now', cells: [], markets: [] }),
  };
  const auditLog = {
    record: async (r: Omit<AuditRecord, 'at'>) => void audit.push(r),
    latest: async (limit: number) => audit.slice(0, limit),
  };
  const deps: AdminDeps = {
    kv: kv as unknown as KvStore,
    // the change log is the writer's business (shared/markets/writer.test): here a record write
    markets: { put: (market, record, o = {}) => kv.putJson(MarketRecordSchema, layout.marketKey(market), record, o) },
    layout,
    tokens: [
      { name: 'alice', scope: 'operator', token: TOKEN },
      { name: 'reader', scope: 'read', token: READ_TOKEN },
    ],
    migrator: migrator as unknown as Migrator,
    rollouts: rollouts as unknown as RolloutManager,
    evacuator: evacuator as unknown as Evacuator,
    lifecycle: lifecycle as unknown as AdminDeps['lifecycle'],
    delivery: delivery as unknown as AdminDeps['delivery'],
    placement,
    audit: auditLog as unknown as AuditLog,
    log: log as unknown as Logger,
  };
  return { deps, kv, layout, audit, logged, migrator, rollouts, evacuator, lifecycle, delivery, placement };
}

/** A cell record with defaults. */
export function cell(id: string, extra: Partial<CellRecord> = {}): CellRecord {
  return { id, state: 'active', canary: false, global: false, capacity: 10, version: 'v1', ...extra };
}

/** A market record with defaults. */
export function market(cellId: string, extra: Partial<MarketRecord> = {}): MarketRecord {
  return { cell: cellId, state: 'active', epoch: 1, ...extra };
}

/** An app with the guards and the routes `register` adds, as adminRoutes builds it. */
export function appWith(deps: AdminDeps, register: (app: Hono, d: AdminDeps) => void): Hono {
  const app = new Hono();
  installGuards(app, deps);
  register(app, deps);
  return app;
}

/** A POST with a JSON body and a token (default: the operator token, named `alice`). */
export function post(app: Hono, path: string, body?: unknown, token: string | null = TOKEN): Promise<Response> {
  return Promise.resolve(
    app.request(path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
}

/** A GET with a token (default: the read-only token). */
export function get(app: Hono, path: string, token: string | null = READ_TOKEN): Promise<Response> {
  return Promise.resolve(app.request(path, { headers: token ? { authorization: `Bearer ${token}` } : {} }));
}

/** The JSON body of an answer. */
export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}
