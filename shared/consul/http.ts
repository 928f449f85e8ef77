/**
 * The request core of the Consul client: the base URL, the ACL token header, timeouts, status
 * checks and error codes. Everything that reaches Consul goes through {@link ConsulHttp.send}, so
 * the token and TLS (an `https:` URL, or a transport with its own TLS options) are added here only.
 */
import type { z } from 'zod';
import { ConsulError } from './errors.js';
import { nodeHttpTransport } from './node-http.js';
import { followedCaFromEnv, type ConsulCaOption } from './tls.js';
import { consulTokenFromEnv } from './token.js';
import { fetchTransport, type ConsulBody, type ConsulTransport } from './transport.js';

/** Options of the client: where Consul is, and how to reach it. */
export interface ConsulClientOptions {
  /** `http://host:port` (or `https://`) of a Consul agent. */
  url: string;
  /**
   * ACL token, sent as `X-Consul-Token` on every request. Absent: the environment's
   * (`CELLSIM_CONSUL_TOKEN_FILE`, else `CELLSIM_CONSUL_TOKEN`; token.ts); `''`: none (anonymous).
   */
  token?: string;
  /**
   * How requests are sent. Default: the global fetch (transport.ts); for an `https:` URL,
   * node:https trusting `ca` (node-http.ts), as the global fetch takes no CA.
   */
  transport?: ConsulTransport;
  /**
   * The CA Consul's HTTPS certificate chains to, for the default transport of an `https:` URL:
   * PEM, or a followed file (tls.ts `followConsulCa`). Absent: the file named by
   * `CELLSIM_CONSUL_CACERT`, followed, else the system's store.
   */
  ca?: ConsulCaOption;
  /** Timeout of a request that does not block, ms (default 10,000). */
  timeoutMs?: number;
}

/** Options every call takes. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Until the answer's headers arrive, ms (default: the client's; a blocking query: its wait plus a margin). */
  timeoutMs?: number;
}

/** Options of a read that may block (https://developer.hashicorp.com/consul/api-docs/features/blocking). */
export interface QueryOptions extends CallOptions {
  /** Blocks until Consul's index passes this one (0 or absent: answers at once). */
  index?: number;
  /** Longest block, Consul duration (`30s`, `5m`); Consul's default is 5 minutes. */
  wait?: string;
}

/** A read's value with Consul's index (`X-Consul-Index`; 0 when absent). */
export interface QueryResult<T> {
  index: number;
  value: T;
}

/** A response whose status the caller accepted; its body still to be read. */
export interface Answer {
  status: number;
  index: number;
  body: ConsulBody;
}

type Query = Record<string, string | number | boolean | undefined>;

/** A duration in Consul's syntax (`500ms`, `30s`, `5m`) in ms; undefined when unreadable. */
export function durationMs(d: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(d);
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

/** The request core shared by every part of the client. */
export class ConsulHttp {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly transport: ConsulTransport;
  private readonly timeoutMs: number;

  constructor(o: ConsulClientOptions) {
    this.url = o.url.replace(/\/+$/, '');
    this.token = (o.token ?? consulTokenFromEnv()) || undefined;
    const secure = this.url.startsWith('https:');
    this.transport = o.transport ?? (secure ? nodeHttpTransport({ ca: o.ca ?? followedCaFromEnv() }) : fetchTransport());
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  /**
   * Sends `method path?query`; resolves once the headers are in and the status is 2xx or one of
   * `accept`. Otherwise throws a {@link ConsulError}: `consul_http` with the status and the start
   * of the body, `consul_unavailable` when no answer came, `consul_aborted` when `signal` fired.
   */
  async send(
    method: 'GET' | 'PUT' | 'DELETE',
    path: string,
    o: QueryOptions & { query?: Query; body?: string; accept?: readonly number[]; bodyTimeoutMs?: number } = {},
  ): Promise<Answer> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined && v !== false) q.set(k, String(v));
    if (o.index !== undefined) q.set('index', String(o.index));
    if (o.wait !== undefined) q.set('wait', o.wait);
    const qs = q.toString();
    const url = `${this.url}${path}${qs ? `?${qs}` : ''}`;
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers['x-consul-token'] = this.token;
    const what = `consul ${method} ${path}`;
    let res;
    try {
      res = await this.transport({
        method,
        url,
        headers,
        body: o.body,
        signal: o.signal,
        headersTimeoutMs: o.timeoutMs ?? this.blockingTimeout(o) ?? this.timeoutMs,
        bodyTimeoutMs: o.bodyTimeoutMs ?? 30_000,
      });
    } catch (err) {
      if (o.signal?.aborted) throw new ConsulError('consul_aborted', `${what}: cancelled`, { cause: err });
      throw new ConsulError('consul_unavailable', `${what}: ${(err as Error).message}`, { cause: err });
    }
    const ok = (res.status >= 200 && res.status < 300) || (o.accept ?? []).includes(res.status);
    if (!ok) {
      const text = await res.body.text().catch(() => '');
      throw new ConsulError('consul_http', `${what} failed: ${res.status} ${text.slice(0, 200)}`, { status: res.status });
    }
    const raw = Number(res.header('x-consul-index'));
    return { status: res.status, index: Number.isFinite(raw) && raw > 0 ? raw : 0, body: res.body };
  }

  /**
   * The headers timeout of a blocking query (an index, or a wait as a watch sends from its first
   * query on): its wait, Consul's jitter (wait/16) and a margin.
   */
  private blockingTimeout(o: QueryOptions): number | undefined {
    if (!o.index && o.wait === undefined) return undefined;
    const waitMs = durationMs(o.wait ?? '5m') ?? 300_000;
    return waitMs + waitMs / 16 + 5000;
  }

  /** Reads a body as JSON; `consul_invalid_answer` when it is not. */
  async json(a: Answer, what: string): Promise<unknown> {
    const text = await this.text(a, what);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ConsulError('consul_invalid_answer', `${what}: not JSON: ${text.slice(0, 200)}`);
    }
  }

  /** Reads a body as JSON checked by `schema`; `consul_invalid_answer` with every problem when it does not fit. */
  async parse<T>(a: Answer, schema: z.ZodType<T>, what: string): Promise<T> {
    const r = schema.safeParse(await this.json(a, what));
    if (!r.success) {
      const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new ConsulError('consul_invalid_answer', `${what}: unexpected answer: ${problems.join('; ')}`);
    }
    return r.data;
  }

  /** Reads a body whole; a body cut off becomes `consul_unavailable`. */
  async text(a: Answer, what: string): Promise<string> {
    try {
      return await a.body.text();
    } catch (err) {
      throw new ConsulError('consul_unavailable', `${what}: ${(err as Error).message}`, { cause: err });
    }
  }
}
