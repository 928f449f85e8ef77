/**
 * The routing handler for /v1/*: market → cell (global paths → the global cell), a frozen
 * market held, the cell checked known and not down, then the proxy through the cell's guard.
 */
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type { Hono } from 'hono';
import { HttpError } from '../../shared/errors.js';
import { experimentArm, experimentKey, shareMoveTakes } from '../../shared/experiment.js';
import { GLOBAL_PATH_PREFIX, MARKET_HEADER, extractMarket } from '../../shared/market.js';
import { REQUEST_ID_HEADER, headerRecord, requestIdFrom, upstreamRequestHeaders, type HeaderRecord } from '../proxy/headers.js';
import type { Route } from '../table/resolver.js';
import type { Env, RouterDeps } from './deps.js';
import type { ErrorAnswer } from './errors.js';
import { rawPathOf } from './path-guard.js';
import { hasBody, one, toResponse, writeNode } from './upstream.js';
import { holdFrozen, untilReady } from './waits.js';

/** Registers `/v1/*` (every method) on `app`. */
export function proxyRoute(app: Hono<Env>, deps: RouterDeps, answer: ErrorAnswer): void {
  const { resolver, metrics, logger, isolation, proxy } = deps;
  const readyHoldMs = deps.readyHoldMs ?? 5000;

  app.all('/v1/*', async (c) => {
    const t0 = performance.now();
    const incoming = c.env?.incoming;
    const outgoing = c.env?.outgoing;
    // Under node, read the request from node's own objects: materialising a web Request
    // (Headers, AbortSignal, streams) costs more than the rest of the routing together.
    const headers: HeaderRecord = incoming ? incoming.headers : headerRecord(c.req.raw.headers);
    const requestId = requestIdFrom(one(headers[REQUEST_ID_HEADER]));
    const rawPath = rawPathOf(c);
    const q = rawPath.indexOf('?');
    const pathname = q >= 0 ? rawPath.slice(0, q) : rawPath;
    const method = incoming?.method ?? c.req.method;
    let cell = '-';
    let arm: { market: string; arm: 'variant' | 'control'; color: string } | undefined;
    let market: string | undefined;
    /** The market counted as sending to its cell (market-view.ts) until the cell answers. */
    let sending: string | undefined;
    try {
      if (deps.table.ready === false) await untilReady(deps.table, readyHoldMs); // no await on the hot path once ready
      let route: Route | undefined;
      if (pathname.startsWith(GLOBAL_PATH_PREFIX)) {
        route = resolver.resolveGlobal();
        if (!route) throw new HttpError('cell_unavailable', 'no cell is marked global', { headers: { 'retry-after': '1' } });
      } else {
        const ex = extractMarket(headers[MARKET_HEADER]);
        if (!ex.ok) throw new HttpError(ex.code, ex.message);
        market = ex.market;
        route = resolver.resolve(ex.market);
        if (!route) throw new HttpError('unknown_market', `no cell owns market ${ex.market}`);
        if (route.state === 'frozen') route = await holdFrozen(deps, ex.market, route, incoming ? undefined : c.req.raw.signal);
        // Key headers read one value per header line (node joins repeated lines into one string;
        // Envoy counts them): a repeated key header is no key on either plane.
        const keyOf = (name: string) => experimentKey(incoming ? incoming.headersDistinct[name] : headers[name]);
        if (route.shareMove) {
          // A market move by share: the key's bucket picks the cell (shared/experiment.ts), as Envoy's Lua does.
          const key = keyOf(route.shareMove.spec.header);
          if (key !== undefined && shareMoveTakes(route.shareMove.spec, key)) route = route.shareMove.to;
        }
        if (route.experiment) {
          // An A/B experiment: the key header's hash picks the arm (shared/experiment.ts), as Envoy's Lua does.
          const key = keyOf(route.experiment.spec.header);
          if (key !== undefined) {
            const armName = experimentArm(route.experiment.spec, key);
            const color = armName === 'variant' ? route.experiment.spec.color : (route.cellRecord?.activeColor ?? '-');
            arm = { market: ex.market, arm: armName, color };
            route = route.experiment.arms[armName];
          }
        }
      }
      cell = route.cell;
      if (route.cellRecord === undefined) {
        logger.warn({ requestId, market: headers[MARKET_HEADER], cell }, 'market points to a cell missing from cells/');
        throw new HttpError('cell_unavailable', `cell ${cell} is not a known cell`, { headers: { 'retry-after': '1' } });
      }
      if (route.cellRecord.state === 'down') {
        throw new HttpError('cell_unavailable', `cell ${cell} is down`, { headers: { 'retry-after': '5' } });
      }
      let body: Readable | null = null;
      if (hasBody(method, headers)) {
        if (incoming) body = incoming;
        else if (c.req.raw.body) body = Readable.fromWeb(c.req.raw.body as never);
      }
      let signal: AbortSignal | EventEmitter;
      if (outgoing) {
        const ee = new EventEmitter();
        outgoing.once('close', () => {
          if (!outgoing.writableFinished) ee.emit('abort');
        });
        signal = ee;
      } else {
        signal = c.req.raw.signal;
      }
      // From the route's resolution to here nothing awaits: a migration's freeze barrier that saw
      // this market frozen in the table, and nothing sending, has no request of it left on its way.
      if (market !== undefined && deps.sending) {
        deps.sending.enter(market);
        sending = market;
      }
      const up = await proxy.forward(
        {
          method,
          path: rawPath,
          headers: upstreamRequestHeaders(headers, { clientIp: incoming?.socket.remoteAddress, requestId, proto: 'http' }),
          body,
          requestId,
          signal,
        },
        route,
        isolation.cell(cell),
      );
      metrics.requests.inc({ cell, status: String(up.status) });
      metrics.duration.observe({ cell }, (performance.now() - t0) / 1000);
      if (arm) {
        metrics.experimentRequests.inc({ ...arm, status: String(up.status) });
        metrics.experimentDuration.observe(arm, (performance.now() - t0) / 1000);
      }
      return outgoing ? writeNode(up, outgoing) : toResponse(up);
    } catch (err) {
      if (err instanceof HttpError) {
        if (arm) metrics.experimentRequests.inc({ ...arm, status: String(err.status) });
        return answer(c, err, cell, requestId);
      }
      if ((err as Error).name === 'AbortError' || (err as { code?: string }).code === 'UND_ERR_ABORTED') {
        return answer(c, new HttpError('bad_gateway', 'client went away', { status: 499 }), cell, requestId);
      }
      logger.error({ err, requestId, cell }, 'routing failed');
      return answer(c, new HttpError('internal', 'internal error'), cell, requestId);
    } finally {
      if (sending !== undefined) deps.sending?.leave(sending);
    }
  });
}
