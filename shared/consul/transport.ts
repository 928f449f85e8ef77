/**
 * How the Consul client sends its HTTP requests: one function, injectable. The default sends with
 * the global `fetch`; `node-http.ts` sends with node:http (the router's table worker, whose heap
 * must not hold undici) and `undici.ts` with undici's `request` (processes that load undici anyway).
 * A transport only moves bytes: statuses, Consul's headers and errors with codes are the client's.
 */

/** One HTTP request to Consul. */
export interface ConsulRequest {
  method: 'GET' | 'PUT' | 'DELETE';
  /** Absolute URL, query string included. */
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** Cancels the request, in flight or while its body streams. */
  signal?: AbortSignal;
  /** Until the response headers arrive, ms. */
  headersTimeoutMs: number;
  /** Between two body chunks, ms. */
  bodyTimeoutMs: number;
}

/** A response body: iterate it for its chunks, or take it whole, or throw it away. Read it once. */
export interface ConsulBody extends AsyncIterable<Uint8Array> {
  /** The whole body as UTF-8 text. */
  text(): Promise<string>;
  /** Reads and discards the body (the connection goes back to the pool). */
  dump(): Promise<void>;
}

/** What a transport answers once the response headers are in. */
export interface ConsulResponse {
  status: number;
  /** A response header by its lower-case name. */
  header(name: string): string | undefined;
  body: ConsulBody;
}

/** Sends one request; rejects when no answer came (refused, reset, timed out, cancelled). */
export type ConsulTransport = (req: ConsulRequest) => Promise<ConsulResponse>;

/** Builds a {@link ConsulBody} from an async iterable of chunks. */
export function bodyFrom(chunks: () => AsyncIterable<Uint8Array>): ConsulBody {
  return {
    [Symbol.asyncIterator]: () => chunks()[Symbol.asyncIterator](),
    async text() {
      const parts: Uint8Array[] = [];
      for await (const c of chunks()) parts.push(c);
      return Buffer.concat(parts).toString('utf8');
    },
    async dump() {
      for await (const _ of chunks()) void _;
    },
  };
}

/** The default transport: the global `fetch`, with the headers and body timeouts applied by hand. */
export function fetchTransport(): ConsulTransport {
  return async (req) => {
    const ac = new AbortController();
    const onAbort = () => ac.abort(req.signal?.reason);
    if (req.signal?.aborted) onAbort();
    else req.signal?.addEventListener('abort', onAbort, { once: true });
    const headersTimer = setTimeout(
      () => ac.abort(new Error(`Consul sent no answer within ${req.headersTimeoutMs} ms: ${req.method} ${req.url}`)),
      req.headersTimeoutMs,
    );
    let res: Response;
    try {
      res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, signal: ac.signal });
    } catch (err) {
      req.signal?.removeEventListener('abort', onAbort);
      throw ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason : err;
    } finally {
      clearTimeout(headersTimer);
    }
    const stream = res.body;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      if (!stream) return;
      // Armed only while this reader waits for data: between chunks the consumer runs.
      const stall = setTimeout(
        () => ac.abort(new Error(`Consul's answer stalled for ${req.bodyTimeoutMs} ms: ${req.method} ${req.url}`)),
        req.bodyTimeoutMs,
      );
      const reader = stream.getReader();
      try {
        for (;;) {
          let r: Awaited<ReturnType<typeof reader.read>>;
          try {
            r = await reader.read();
          } catch (err) {
            throw ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason : err;
          }
          if (r.done) return;
          stall.refresh();
          yield r.value;
        }
      } finally {
        clearTimeout(stall);
        reader.releaseLock();
        req.signal?.removeEventListener('abort', onAbort);
      }
    }
    return { status: res.status, header: (name) => res.headers.get(name) ?? undefined, body: bodyFrom(chunks) };
  };
}
