/**
 * A console over fakes, for tests without Consul: a KV with three cells, an xDS market map of
 * any size, and the admin API's own guards in front of an `/audit` read and one mutation
 * (`POST /cells/:cell/drain`) that records its caller.
 */
import { Hono } from 'hono';
import { KvLayout, type MarketRecord } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import type { NamedToken } from '../../shared/tokens.js';
import { installGuards } from '../admin/api/guards.js';
import { createConsole, type ConsoleDeps } from './index.js';

/** The fakes' operator token (named alice) and read token (viewer). */
export const OPERATOR = 'console-test-operator-token-1';
export const READ = 'console-test-read-token-12345';
const TOKENS: NamedToken[] = [
  { name: 'alice', scope: 'operator', token: OPERATOR },
  { name: 'viewer', scope: 'read', token: READ },
];
const layout = new KvLayout('cellsim/');
const cellRec = (id: string) => ({ id, state: 'active', canary: id === 'cell-0', global: id === 'cell-1', capacity: 10, version: 'v1' });

/** The console app over the fakes; `markets` defaults to sf (cell-1, active) and nyc (cell-2, frozen). */
export function setup(
  markets = new Map<string, MarketRecord>([
    ['sf', { cell: 'cell-1', state: 'active', epoch: 1 }],
    ['nyc', { cell: 'cell-2', state: 'frozen', epoch: 3 }],
  ]),
) {
  const calls: { path: string; who: string; body: unknown }[] = [];
  const admin = new Hono();
  installGuards(admin, { tokens: TOKENS, log: createLogger('test', {}) }); // the admin API's own guards: errors, tokens, scopes
  admin.get('/audit', (c) =>
    c.json({ audit: [{ at: '2026-12-06T00:00:00Z', who: 'alice', action: 'drain (dry run)', target: 'cell-2', result: 'dry-run' }] }),
  );
  admin.post('/cells/:cell/drain', async (c) => {
    calls.push({ path: c.req.path, who: c.get('caller').name, body: await c.req.json() });
    return c.json({ dryRun: true });
  });
  const cells = ['cell-0', 'cell-1', 'cell-2'];
  const kv = {
    consul: { health: { service: async () => ({ index: 1, value: [] }) } },
    listJson: async (_s: unknown, prefix: string) => ({
      values: prefix === layout.cellsPrefix ? cells.map((id) => ({ key: layout.cellKey(id), value: cellRec(id) })) : [],
      invalid: [],
    }),
    getJson: async () => undefined,
  };
  const ui = createConsole({
    admin,
    tokens: TOKENS,
    consul: kv.consul,
    kv,
    layout,
    edge: { current: () => ({ markets }), status: () => ({ id: 'cp-1', ready: true, nodes: [] }) },
    migrator: { list: async () => [] },
    rollouts: { list: async () => [], running: () => undefined },
    log: createLogger('test', {}),
  } as unknown as ConsoleDeps);
  const app = new Hono();
  app.route('/', ui.routes);
  return { app, calls, close: () => ui.close() };
}
