/** Applies injected faults and the version's defect to /v1 traffic (never /admin or health). */
import type { MiddlewareHandler } from 'hono';
import { HttpError } from '../../shared/errors.js';
import { MARKET_HEADER } from '../../shared/market.js';
import { faultDelay, waitUntilOver, type FaultRegistry } from './registry.js';

function injected(status: number | undefined, what: string): HttpError {
  return new HttpError('injected_fault', `injected fault: ${what}`, { status: status ?? 500 });
}

/** Latency first, then hang (held until the fault ends), then the error rate. `slow-db` slows the database instead (slow-db.ts). */
export function faultMiddleware(registry: FaultRegistry): MiddlewareHandler {
  return async (c, next) => {
    const method = c.req.method;
    const path = c.req.path;
    if (registry.defectApplies(method, path)) {
      const d = registry.defect!;
      await faultDelay(d);
      if (d.errorRate !== undefined && Math.random() < d.errorRate) throw injected(d.status, 'defect of this version');
    }
    for (const f of registry.forRequest(method, path, c.req.header(MARKET_HEADER))) {
      if (f.kind === 'latency') await faultDelay(f);
      else if (f.kind === 'hang') await waitUntilOver(registry, f.id);
      else if (f.kind === 'errors' && Math.random() < (f.errorRate ?? 1)) throw injected(f.status, `errors ${f.id}`);
    }
    await next();
  };
}
