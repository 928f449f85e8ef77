/**
 * The control plane's one HTTP app (hono): /healthz, /readyz, /metrics, /xds/status, the
 * hold endpoint of frozen markets, and (behind --test-hooks only) the NACK injection used by
 * the tests. Other subsystems add their routes with {@link mountRoutes}.
 */
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import { HttpError, errorBody } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { holdMiddleware } from './xds/hold-endpoint.js';
import type { Xds } from './xds/index.js';

/** What the app serves from. */
export interface HttpDeps {
  registry: Registry;
  xds: Xds;
  log: Logger;
  /** Mounts POST/DELETE /xds/test/invalid (never in production). */
  testHooks: boolean;
  /** False until the control plane's first Consul registration attempt finished (default: always true). */
  announced?: () => boolean;
}

/** Builds the app. */
export function createHttpApp(d: HttpDeps): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json(err.body(), err.status as 400, err.headers);
    d.log.error({ err, path: c.req.path }, 'unhandled error');
    return c.json(errorBody('internal', 'internal error'), 500);
  });
  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));

  app.use('*', holdMiddleware(d.xds));
  app.get('/healthz', (c) => c.json({ ok: true }));
  // Ready = a routing view to serve (from Consul, or the last good view on disk while Consul is
  // away: then `degraded` and `source: snapshot`). 503 before any view and before the first
  // cellsim-xds registration attempt.
  app.get('/readyz', (c) => {
    const { source, degraded, consulReachable } = d.xds.health();
    const body = { source, degraded, consulReachable };
    if (!d.xds.ready) return c.json({ ready: false, reason: 'no routing view yet (Consul has not answered)', ...body }, 503);
    if (d.announced?.() === false) return c.json({ ready: false, reason: 'registering in Consul', ...body }, 503);
    return c.json({ ready: true, ...body });
  });
  app.get('/metrics', async (c) => {
    d.xds.health(); // refreshes the source/degraded gauges
    return c.text(await d.registry.metrics(), 200, { 'content-type': d.registry.contentType });
  });
  app.get('/xds/status', (c) => c.json(d.xds.status()));

  if (d.testHooks) {
    app.post('/xds/test/invalid', async (c) => {
      const node = c.req.query('node') ?? '*';
      d.log.warn({ node }, 'TEST HOOK: publishing a resource Envoy rejects');
      d.xds.injectInvalid(node);
      return c.json({ injected: node }, 201);
    });
    app.delete('/xds/test/invalid', (c) => {
      d.xds.clearInjected();
      return c.json({ cleared: true });
    });
  }
  return app;
}

/** Mounts `routes` under `path` (e.g. the operator admin API under `/admin`). */
export function mountRoutes(app: Hono, path: string, routes: Hono): void {
  app.route(path, routes);
}
