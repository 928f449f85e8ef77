/**
 * Forwards one request to the cell of its route: endpoint choice (least-request, power of
 * two choices, ejected endpoints skipped), the cell's breaker and in-flight bound, timeouts,
 * streaming both ways, and retries only when safe: on another endpoint when the request was
 * never sent (connection refused) or is idempotent and bodiless; on a fresh connection, the
 * same endpoint included, when an idempotent request died on a reused keep-alive connection
 * before any response byte (attempts.ts) — always within the cell's retry budget (docs/contracts.md §Request contract:
 * non-idempotent requests are never retried once sent).
 */
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { errors as undiciErrors } from 'undici';
import { HttpError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { weightedPick, type Endpoint } from '../../shared/routing-table.js';
import { judgeStall, Permit, type CellGuard, type ProbeAnswer, type StallCut } from '../isolation/index.js';
import type { RouterMetrics } from '../metrics.js';
import type { Route } from '../table/resolver.js';
import { clientResponseHeaders } from './headers.js';
import { diedOnStaleConnection, evidenceOf, trackAttempts } from './attempts.js';
import { anyConnects, AttemptSignal, canConnect } from './cut-off.js';
import type { PoolSet } from './pools.js';

export { PoolSet } from './pools.js';

/** Timeouts (defaults in brackets). */
export interface ProxyOptions {
  /** Until the response headers arrive, ms [15,000]. */
  headersTimeoutMs?: number;
  /** Between two body chunks, ms [30,000]. */
  bodyTimeoutMs?: number;
  /** Where stall and panic-routing events are logged. */
  logger?: Logger;
}

/** What the proxy needs of a request. */
export interface ForwardRequest {
  method: string;
  /** Path and query, as sent upstream. */
  path: string;
  headers: Record<string, string | string[]>;
  /** Request body; null when there is none. */
  body: Readable | null;
  requestId: string;
  /** Aborts the upstream request (the client went away). */
  signal?: AbortSignal | EventEmitter;
}

/** The cell's answer, ready for the client: headers already rewritten, body streaming. */
export interface Upstream {
  status: number;
  headers: Record<string, string | string[]>;
  /** Null for HEAD and null-body statuses. In-flight accounting ends when it closes. */
  body: Readable | null;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const NULL_BODY = new Set([101, 204, 205, 304]);
/** Retries per request after dying on a stale keep-alive connection (several idle sockets can close at once). */
const STALE_RETRIES = 2;
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

function errCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code ?? '';
}

/** Forwards requests to cells. */
export class Proxy {
  private readonly headersTimeoutMs: number;
  private readonly bodyTimeoutMs: number;
  private readonly logger: Logger | undefined;

  constructor(
    private readonly pools: PoolSet,
    private readonly metrics: RouterMetrics,
    opts: ProxyOptions = {},
  ) {
    this.headersTimeoutMs = opts.headersTimeoutMs ?? 15_000;
    this.bodyTimeoutMs = opts.bodyTimeoutMs ?? 30_000;
    this.logger = opts.logger;
    trackAttempts();
  }

  /**
   * Liveness probe of a stalled cell: does any of its processes answer `GET /healthz`? If none
   * does, and no new TCP connection to any of them opens within the probe timeout either, the
   * cell is `unreachable` (a cut host; a blocked process's kernel still completes the handshake).
   */
  private async probe(endpoints: readonly Endpoint[], connectTimeoutMs: number): Promise<ProbeAnswer> {
    const connects = Promise.all(endpoints.map((ep) => canConnect(ep, connectTimeoutMs)));
    const answered = Promise.all(
      endpoints.map(async (ep) => {
        try {
          const res = await this.pools.get(ep).request({ method: 'GET', path: '/healthz', headersTimeout: 1000, bodyTimeout: 1000 });
          await res.body.dump();
          return res.statusCode < 500;
        } catch {
          return false;
        }
      }),
    ).then((answers) => answers.some(Boolean));
    // Unreachable is known as soon as every connection attempt failed, not after /healthz times out.
    const cut = connects.then((opened): Promise<ProbeAnswer> | ProbeAnswer => (opened.some(Boolean) ? answered : 'unreachable'));
    return Promise.race([answered.then((ok) => (ok ? true : cut)), cut]);
  }

  private pick(endpoints: readonly Endpoint[], guard: CellGuard, tried: ReadonlySet<string>): Endpoint | undefined {
    let fresh: Endpoint[] = [];
    for (const ep of endpoints) if (!tried.has(ep.id)) fresh.push(ep);
    if (fresh.length === 0) return undefined;
    // A weighted shift between colors: the color is drawn by its share over every endpoint, ejected
    // or tried ones included, and the endpoint among that color's (docs/weighted-shifts.md): an
    // ejected color keeps its share instead of handing it to the other. A retry whose color has no
    // untried endpoint left goes to the other color.
    const weighted = fresh.some((ep) => ep.weight !== undefined);
    if (weighted) {
      const color = weightedPick(endpoints)!.color;
      const own = fresh.filter((ep) => ep.color === color);
      if (own.length > 0) fresh = own;
    }
    const healthy = fresh.filter((ep) => !guard.outliers.isEjected(ep.id));
    if (healthy.length > 0) fresh = healthy; // all ejected: panic mode, use them anyway
    if (fresh.length === 1) return fresh[0];
    // Within a color, each endpoint its weight's share (the least-loaded choice would skew the shift).
    if (weighted) return weightedPick(fresh);
    const a = fresh[Math.floor(Math.random() * fresh.length)]!;
    let b = fresh[Math.floor(Math.random() * (fresh.length - 1))]!;
    if (b === a) b = fresh[fresh.length - 1]!;
    const load = (ep: Endpoint) => guard.endpointInflight.get(ep.id) ?? 0;
    return load(b) < load(a) ? b : a;
  }

  /** Forwards `req` along `route`; throws {@link HttpError} for answers the router gives itself. */
  async forward(req: ForwardRequest, route: Route, guard: CellGuard): Promise<Upstream> {
    const wasPanicking = guard.panicking;
    const endpoints = guard.endpoints(route.endpoints);
    if (endpoints.length === 0) {
      throw new HttpError('cell_unavailable', `cell ${route.cell} has no healthy endpoint`, { headers: { 'retry-after': '1' } });
    }
    if (guard.panicking && !wasPanicking) {
      this.logger?.warn({ cell: route.cell, endpoints: endpoints.map((e) => e.id) }, 'no passing instance: using the last passing ones');
    }
    // Nothing answered for far longer than this cell takes. If its process still answers its
    // health endpoint, the requests are hung: open the breaker and send nothing more (not even a
    // half-open probe) until the cell answers again or its waiting requests end. If nothing
    // answers at all, its event loop is blocked (busy): wait up to busyMs (liveness.ts), unless
    // no connection to it opens either (a cut host: cut at once, as hung, and the requests
    // waiting on it answered 504 now, cut-off.ts). Judged here for each request and on a timer
    // while requests wait (stall-watch.ts).
    const probe = () => this.probe(endpoints, guard.liveness.probeTimeoutMs);
    const onCut = (cut: StallCut) => {
      const failed = cut.process === 'unreachable' ? guard.failWaiting() : 0;
      this.logger?.warn({ cell: route.cell, ...cut, failed }, 'cell stalled: breaker opened');
    };
    const cut = judgeStall(guard, probe);
    if (cut) {
      const fresh = guard.breaker.state !== 'open';
      guard.breaker.forceOpen(cut.process === 'unreachable');
      if (fresh) onCut(cut);
      throw new HttpError('cell_unavailable', `cell ${route.cell} is not answering (${cut.waiting} requests waiting)`, {
        headers: { 'retry-after': String(guard.breaker.retryAfterSeconds()) },
      });
    }
    // Cut as unreachable and its open period over: a TCP connect decides whether the next
    // client request may go as the half-open probe; client requests get 503 meanwhile.
    if (guard.breaker.connectDue()) {
      void anyConnects(endpoints, guard.liveness.probeTimeoutMs).then((ok) => {
        guard.breaker.connected(ok);
        if (ok) this.logger?.info({ cell: route.cell }, 'cell cut off as unreachable connects again: breaker half-open');
      });
    }
    const permit = guard.breaker.acquire();
    if (permit === Permit.Rejected) {
      throw new HttpError('cell_unavailable', `cell ${route.cell} is failing (circuit open)`, {
        headers: { 'retry-after': String(guard.breaker.retryAfterSeconds()) },
      });
    }
    if (guard.inflight >= guard.maxInflight) {
      guard.breaker.release(permit);
      throw new HttpError('overloaded', `cell ${route.cell} has ${guard.inflight} requests in flight`, { headers: { 'retry-after': '1' } });
    }
    guard.inflight += 1;
    guard.retries.deposit();
    const inflightGauge = this.metrics.inflight.labels(route.cell);
    inflightGauge.inc();
    let handedOff = false;
    const finish = () => {
      guard.inflight -= 1;
      inflightGauge.dec();
    };
    const tried = new Set<string>();
    const bodiless = req.body === null;
    let staleRetries = STALE_RETRIES;
    try {
      for (;;) {
        const ep = this.pick(endpoints, guard, tried);
        if (ep === undefined) throw new Error('unreachable: no endpoint left');
        tried.add(ep.id);
        guard.endpointInflight.set(ep.id, (guard.endpointInflight.get(ep.id) ?? 0) + 1);
        const epDone = () => guard.endpointInflight.set(ep.id, (guard.endpointInflight.get(ep.id) ?? 1) - 1);
        let res: Dispatcher.ResponseData;
        const waiting = guard.stall.begin();
        guard.watch.arm(probe, onCut);
        const signal = new AttemptSignal(req.signal);
        guard.waiters.add(signal.cutOff);
        try {
          res = await this.pools.get(ep).request({
            method: req.method,
            path: req.path,
            headers: req.headers,
            body: req.body,
            signal,
            headersTimeout: this.headersTimeoutMs,
            bodyTimeout: this.bodyTimeoutMs,
          });
        } catch (err) {
          epDone();
          if (signal.cut) {
            // Cut off as unreachable while it waited: it may have reached the cell, so no retry.
            guard.stall.settle(waiting, false);
            guard.breaker.release(permit);
            throw new HttpError('upstream_timeout', `cell ${route.cell} stopped answering and accepts no connection (host unreachable)`);
          }
          if (err instanceof undiciErrors.RequestAbortedError) {
            guard.stall.settle(waiting, false);
            guard.breaker.release(permit);
            throw err;
          }
          const code = errCode(err);
          const timeout = err instanceof undiciErrors.HeadersTimeoutError;
          const evidence = evidenceOf(err);
          const replayable = req.body === null || (!req.body.destroyed && !req.body.readableDidRead);
          // Never processed, by undici's own account: the request was never written (connect
          // failed), or it died on a reused keep-alive socket before any response byte (the
          // cell closed that idle socket as we sent). The latter is no sign of a sick cell:
          // not counted against it, and retried on a fresh connection, the same endpoint included.
          const notSent = NOT_SENT_CODES.has(code) || evidence?.sent === false;
          const stale = !timeout && diedOnStaleConnection(evidence);
          guard.stall.settle(waiting, !timeout);
          if (stale && replayable && staleRetries > 0 && IDEMPOTENT.has(req.method) && guard.retries.withdraw()) {
            staleRetries -= 1;
            tried.delete(ep.id);
            this.metrics.retries.inc({ cell: route.cell });
            continue;
          }
          guard.breaker.failure(permit, 'transport');
          if (guard.outliers.record(ep.id, 'transport', endpoints.length)) this.metrics.ejections.inc({ cell: route.cell });
          const safe = replayable && (notSent || (bodiless && !timeout && IDEMPOTENT.has(req.method)));
          const another = endpoints.some((e) => !tried.has(e.id));
          if (safe && another && permit !== Permit.Probe && guard.retries.withdraw()) {
            this.metrics.retries.inc({ cell: route.cell });
            continue;
          }
          if (timeout) throw new HttpError('upstream_timeout', `cell ${route.cell} did not answer within ${this.headersTimeoutMs} ms`);
          if (notSent || guard.breaker.state === 'open') {
            throw new HttpError('cell_unavailable', `cell ${route.cell} is unreachable (${code || 'connection failed'})`, {
              headers: { 'retry-after': '1' },
            });
          }
          throw new HttpError('bad_gateway', `cell ${route.cell} connection failed (${code || (err as Error).message})`);
        } finally {
          guard.waiters.delete(signal.cutOff);
          signal.dispose();
        }
        guard.stall.settle(waiting, true);
        const failed = res.statusCode >= 500;
        if (failed) guard.breaker.failure(permit, 'status');
        else guard.breaker.success(permit);
        if (guard.outliers.record(ep.id, failed ? 'status' : 'ok', endpoints.length)) this.metrics.ejections.inc({ cell: route.cell });
        const headers = clientResponseHeaders(res.headers, route.cell, req.requestId);
        const body = res.body;
        let done = false;
        const end = () => {
          if (done) return;
          done = true;
          epDone();
          finish();
        };
        handedOff = true;
        if (NULL_BODY.has(res.statusCode) || req.method === 'HEAD') {
          body.on('error', () => undefined);
          void body.dump().finally(end);
          return { status: res.statusCode, headers, body: null };
        }
        body.once('close', end);
        body.once('error', end);
        return { status: res.statusCode, headers, body };
      }
    } finally {
      if (!handedOff) finish();
    }
  }
}
