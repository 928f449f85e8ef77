/**
 * The operator admin API (hono), mounted under `/admin` by control-plane/main.ts. Every route
 * needs `Authorization: Bearer <token>`: reads a read or an operator token, every mutation an
 * operator token. A mutation accepts `"dryRun": true` (answers the plan, changes nothing) and
 * writes an audit record whose `who` is the token's name.
 * Routes are listed in docs/operators.md; each group is a module of `api/` registering its
 * routes on the one app: guards (errors, token), reads, migrations, markets (assign), cells
 * (drain, activate, evacuate), lifecycle (add, retire), placement (load, rebalance), rollouts (start, abort, rollback),
 * shift (a cell's weighted shift by hand), scale (a split cell's delivery service).
 */
import { Hono } from 'hono';
import { cellRoutes } from './api/cells.js';
import type { AdminDeps } from './api/deps.js';
import { installGuards } from './api/guards.js';
import { lifecycleRoutes } from './api/lifecycle.js';
import { marketRoutes } from './api/markets.js';
import { placementRoutes } from './api/placement.js';
import { migrationRoutes } from './api/migrations.js';
import { readRoutes } from './api/reads.js';
import { rolloutRoutes } from './api/rollouts.js';
import { scaleRoutes } from './api/scale.js';
import { shiftRoutes } from './api/shift.js';

export type { AdminDeps } from './api/deps.js';

/** Builds the `/admin` sub-app. */
export function adminRoutes(d: AdminDeps): Hono {
  const app = new Hono();
  installGuards(app, d); // first: errors, the token check and the body limit run before every route
  readRoutes(app, d);
  migrationRoutes(app, d);
  marketRoutes(app, d);
  cellRoutes(app, d);
  lifecycleRoutes(app, d);
  placementRoutes(app, d);
  rolloutRoutes(app, d);
  shiftRoutes(app, d);
  scaleRoutes(app, d);
  return app;
}
