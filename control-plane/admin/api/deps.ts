/**
 * The one dependency type every route module of the admin API (control-plane/admin/api/) takes,
 * and the operator a request acts for.
 */
import type { Context } from 'hono';
import type { KvLayout } from '../../../shared/kv.js';
import type { Logger } from '../../../shared/logger.js';
import { callerOf } from '../../../shared/token-auth.js';
import type { NamedToken } from '../../../shared/tokens.js';
import type { KvStore } from '../../../shared/consul/kv-store.js';
import type { MarketWriter } from '../../../shared/markets/writer.js';
import type { Migrator } from '../../migration/migrator.js';
import type { RolloutManager } from '../../rollout/manager.js';
import type { AuditLog } from '../audit.js';
import type { Evacuator } from '../evacuation.js';
import type { CellLifecycle } from '../lifecycle.js';
import type { DeliveryScaling } from '../delivery-scale.js';
import type { LoadReport } from '../../placement/load.js';
import type { RecoveryReport } from '../recovery.js';

/** What the routes act on. */
export interface AdminDeps {
  kv: KvStore;
  /** Writes market records with their change-log entry (shared/markets/writer.ts). */
  markets: Pick<MarketWriter, 'put'>;
  layout: KvLayout;
  /** The tokens the API accepts, each with its name (the audit's `who`) and scope. */
  tokens: NamedToken[];
  migrator: Migrator;
  rollouts: RolloutManager;
  evacuator: Evacuator;
  /** Adds and retires cells (`cellctl cells add|retire`). */
  lifecycle: Pick<CellLifecycle, 'planAdd' | 'add' | 'checkRetire' | 'retire' | 'supervised'>;
  /** Scales a split cell's delivery service (`cellctl cells scale`). */
  delivery: Pick<DeliveryScaling, 'plan' | 'apply'>;
  /** Measures every cell's load over a window (ms) from its own metrics. */
  placement: { measure(windowMs: number): Promise<LoadReport> };
  audit: AuditLog;
  /** Moves a dead cell's markets from its backup (`evacuate --from-backup`, control-plane/admin/recovery.ts). */
  recover?: (cell: string, dryRun: boolean) => Promise<RecoveryReport>;
  log: Logger;
}

/** Who acts: the name of the token the request presented (set by the guards' token check). */
export function who(c: Context): string {
  return callerOf(c)?.name ?? 'unauthenticated';
}

/**
 * What the caller claims about itself in `x-cellsim-operator` (cellctl sends `user@host`): kept
 * in the audit as `claimed`, never trusted as `who`. At most 128 characters.
 */
export function claimed(c: Context): string | undefined {
  return c.req.header('x-cellsim-operator')?.slice(0, 128);
}
