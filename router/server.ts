/**
 * The router's hono app: /healthz, /readyz, /metrics, and the routing handler for /v1/*
 * (market → cell, global paths → the global cell, frozen markets held, then the proxy).
 * Every answer the router gives itself has the JSON error shape of docs/contracts.md §Error answers.
 * The pieces are in router/http/, installed here in the order they must run: the raw path
 * check, the router's own endpoints, the proxy route, then the 404 and error fallbacks.
 */
import { Hono } from 'hono';
import type { Env, RouterDeps } from './http/deps.js';
import { errorAnswerer, installFallbacks } from './http/errors.js';
import { opsRoutes } from './http/ops-routes.js';
import { installPathGuard } from './http/path-guard.js';
import { proxyRoute } from './http/proxy-route.js';

export type { RouterDeps } from './http/deps.js';

/** Builds the router app. */
export function createRouterApp(deps: RouterDeps): Hono<Env> {
  const app = new Hono<Env>();
  const answer = errorAnswerer(deps);
  installPathGuard(app, answer);
  opsRoutes(app, deps);
  proxyRoute(app, deps, answer);
  installFallbacks(app, deps, answer); // last: its catch-all must not shadow a route
  return app;
}
