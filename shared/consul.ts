/**
 * Consul access shared by routers, the xDS server, cells and operators: a client built from a
 * URL, and a blocking-query watch loop (index handling per Consul's blocking-query rules,
 * exponential backoff with decorrelated jitter on errors, reset on first success).
 * https://developer.hashicorp.com/consul/api-docs/features/blocking
 */
import { EventEmitter } from 'node:events';
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import Consul from 'consul';
import type { Endpoint, KvEntry } from './routing-table.js';

/** The service names of DESIGN §4. */
export const SERVICE_CELL = 'cellsim-cell';
export const SERVICE_ROUTER = 'cellsim-router';
export const SERVICE_XDS = 'cellsim-xds';

/** The consul npm client's type. */
export type ConsulClient = InstanceType<typeof Consul>;

/** Creates a client for `http://host:port`. */
export function createConsulClient(url: string): ConsulClient {
  const u = new URL(url);
  return new Consul({
    host: u.hostname,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    secure: u.protocol === 'https:',
  });
}

/** A cancellation context understood by the consul client (`ctx` option), which also asks for the raw response. */
class RequestContext extends EventEmitter {
  readonly includeResponse = true;
  cancel(): void {
    this.emit('cancel');
  }
}

interface RawResponse {
  headers: Record<string, string | undefined>;
  statusCode?: number;
}

/** One blocking-query result. */
export interface WatchResult<T> {
  value: T;
  index: number;
}

/** Callbacks of a watch: changed values (unchanged ones suppressed), and errors (the loop keeps going). */
export interface WatchHandlers<T> {
  onChange(result: WatchResult<T>): void;
  onError?(err: Error, attempt: number, retryInMs: number): void;
}

/** Options of {@link watch}. */
export interface WatchOptions {
  /** Max blocking time per query, Consul duration syntax (default `30s`). */
  wait?: string;
  /** First backoff delay in ms (default 100). */
  initialDelayMs?: number;
  /** Max backoff delay in ms (default 5000). */
  maxDelayMs?: number;
}

/** A running watch; `stop()` cancels the in-flight query. */
export interface Watch {
  stop(): void;
  /** The last index seen (0 before the first answer). */
  readonly index: number;
}

/**
 * Runs `query(index, wait, ctx)` in a blocking loop. Index rules: an index of 0 or going
 * backwards resets to 0 (full read) without a busy loop (Consul docs: "reset the index if it
 * goes backwards"; "sanity check index is greater than zero"). The first answer is always
 * delivered; later answers are delivered only when the index moved.
 */
export function watch<T>(
  query: (index: number, wait: string, ctx: EventEmitter) => Promise<[RawResponse, T]>,
  handlers: WatchHandlers<T>,
  opts: WatchOptions = {},
): Watch {
  const wait = opts.wait ?? '30s';
  const backoffFactory = new ExponentialBackoff({
    initialDelay: opts.initialDelayMs ?? 100,
    maxDelay: opts.maxDelayMs ?? 5000,
  });
  let index = 0;
  let delivered = false;
  let stopped = false;
  let ctx: RequestContext | undefined;
  let timer: NodeJS.Timeout | undefined;
  let backoff: IBackoff<unknown> | undefined;
  let attempt = 0;

  const schedule = (ms: number) => {
    timer = setTimeout(run, ms);
    timer.unref();
  };

  const run = () => {
    if (stopped) return;
    ctx = new RequestContext();
    query(index, wait, ctx).then(
      ([res, value]) => {
        if (stopped) return;
        backoff = undefined;
        attempt = 0;
        const raw = Number(res.headers['x-consul-index']);
        let next = Number.isFinite(raw) && raw > 0 ? raw : 0;
        if (next < index) next = 0; // index went backwards: Consul state was reset; read fresh
        const changed = !delivered || next !== index || next === 0;
        index = next;
        if (changed) {
          delivered = true;
          try {
            handlers.onChange({ value, index });
          } catch (err) {
            handlers.onError?.(err as Error, 0, 0);
          }
        }
        // A zero index would not block; wait a little instead of spinning.
        if (next === 0) schedule(1000);
        else setImmediate(run);
      },
      (err: Error) => {
        if (stopped) return;
        backoff = (backoff ?? backoffFactory).next(undefined);
        attempt += 1;
        // The next answer may come from a Consul that restarted or lost its data: ask without an
        // index (a blocking query with an index the agent has not reached waits out `wait`).
        index = 0;
        const delay = backoff.duration;
        handlers.onError?.(err, attempt, delay);
        schedule(delay);
      },
    );
  };

  setImmediate(run);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      ctx?.cancel();
    },
    get index() {
      return index;
    },
  };
}

interface RawKvItem {
  Key: string;
  Value: string | null;
  ModifyIndex: number;
}

/** Watches every key under `prefix` (recursive), delivering decoded entries. */
export function watchKvPrefix(consul: ConsulClient, prefix: string, handlers: WatchHandlers<KvEntry[]>, opts?: WatchOptions): Watch {
  return watch<KvEntry[]>(
    async (index, wait, ctx) => {
      const [res, items] = (await consul.kv.get({ key: prefix, recurse: true, index: String(index), wait, ctx } as never)) as unknown as [
        RawResponse,
        RawKvItem[] | RawKvItem | null | undefined,
      ];
      const list = items == null ? [] : Array.isArray(items) ? items : [items];
      return [res, list.map((i) => ({ key: i.Key, value: i.Value, modifyIndex: i.ModifyIndex }))];
    },
    handlers,
    opts,
  );
}

interface RawHealthEntry {
  Service: { ID: string; Address: string; Port: number; Meta?: Record<string, string> | null };
  Node: { Address: string };
}

/** Converts a passing `cellsim-cell` health entry into an endpoint; undefined when its meta is incomplete. */
export function endpointFromHealth(entry: RawHealthEntry): Endpoint | undefined {
  const meta = entry.Service.Meta ?? {};
  const cell = meta.cell;
  if (!cell) return undefined;
  const color = meta.color === 'green' ? 'green' : 'blue';
  return {
    id: entry.Service.ID,
    cell,
    address: entry.Service.Address || entry.Node.Address,
    port: entry.Service.Port,
    version: meta.version ?? 'unknown',
    color,
  };
}

/** Watches the passing instances of a service. */
export function watchPassingService(
  consul: ConsulClient,
  service: string,
  handlers: WatchHandlers<Endpoint[]>,
  opts?: WatchOptions,
): Watch {
  return watch<Endpoint[]>(
    async (index, wait, ctx) => {
      const [res, entries] = (await consul.health.service({
        service,
        passing: true,
        index: String(index),
        wait,
        ctx,
      } as never)) as unknown as [RawResponse, RawHealthEntry[]];
      const endpoints = (entries ?? []).map(endpointFromHealth).filter((e): e is Endpoint => e !== undefined);
      return [res, endpoints];
    },
    handlers,
    opts,
  );
}
