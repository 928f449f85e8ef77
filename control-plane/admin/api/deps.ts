/**
 * The one dependency type every route module of the admin API (control-plane/admin/api/) takes,
 * and the operator a request acts for.
 */
import type { Context } from 'hono';
import type { KvLayout } from '../../../shared/kv.js';
import type { Logger } from '../../../shared/logger.js';
import type { KvStore } from '../../../shared/consul/kv-store.js';
import type { MarketWriter } from '../../../shared/markets/writer.js';
import type { Migrator } from '../../migration/migrator.js';
import type { RolloutManager } from '../../rollout/manager.js';
import type { AuditLog } from '../audit.js';
import type { Evacuator } from '../evacuation.js';

/** What the routes act on. */
export interface AdminDeps {
  kv: KvStore;
  /** Writes market records with their change-log entry (shared/markets/writer.ts). */
  markets: Pick<MarketWriter, 'put'>;
  layout: KvLayout;
  token: string | undefined;
  migrator: Migrator;
  rollouts: RolloutManager;
  evacuator: Evacuator;
  audit: AuditLog;
  log: Logger;
}

/** Who asks: the `x-cellsim-operator` header (cellctl sends the operator's name), else `api`. */
export function who(c: Context): string {
  return c.req.header('x-cellsim-operator') ?? 'api';
}
