/**
 * The blocking-query loop every Consul follower uses (index handling per Consul's blocking-query
 * rules, exponential backoff with decorrelated jitter on errors, reset on first success), the
 * service names of docs/contracts.md §Consul services and the health-entry decoder. The queries
 * themselves go through the Consul client (shared/consul/client.ts) with whatever transport the
 * caller chose: the router's table worker uses node:http there.
 * https://developer.hashicorp.com/consul/api-docs/features/blocking
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import type { Endpoint } from './routing-table.js';

/** The service names of docs/contracts.md §Consul services. */
export const SERVICE_CELL = 'cellsim-cell';
export const SERVICE_ROUTER = 'cellsim-router';
export const SERVICE_XDS = 'cellsim-xds';
/** A cell's delivery service alone (`cellctl cell --role delivery`): never a routing target. */
export const SERVICE_DELIVERY = 'cellsim-delivery';

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
 * Runs `query(index, wait, signal)` in a blocking loop; `signal` fires when the watch stops.
 * Index rules: an index of 0 or going backwards resets to 0 (full read) without a busy loop
 * (Consul docs: "reset the index if it goes backwards"; "sanity check index is greater than
 * zero"). The first answer is always delivered; later answers only when the index moved.
 */
export function watch<T>(
  query: (index: number, wait: string, signal: AbortSignal) => Promise<WatchResult<T>>,
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
  let ctx: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let backoff: IBackoff<unknown> | undefined;
  let attempt = 0;

  const schedule = (ms: number) => {
    timer = setTimeout(run, ms);
    timer.unref();
  };

  const run = () => {
    if (stopped) return;
    ctx = new AbortController();
    query(index, wait, ctx.signal).then(
      ({ index: raw, value }) => {
        if (stopped) return;
        backoff = undefined;
        attempt = 0;
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
      ctx?.abort();
    },
    get index() {
      return index;
    },
  };
}

/** One entry of `GET /v1/health/service/<name>`. */
export interface RawHealthEntry {
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
