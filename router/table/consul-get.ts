/**
 * The table worker's HTTP GETs to Consul, on node:http with one keep-alive agent: a status, the
 * headers and a body read as a stream of chunks (or whole, or discarded), with a timeout until the
 * headers arrive and one between body chunks, cancelled by an AbortSignal.
 *
 * Why not undici, which the request thread uses for its cell pools: the worker is a V8 isolate of
 * its own, and importing undici there cost 7 MB of used heap and 8 MB committed (measured
 * 2026-12-04: an empty worker 5.2 / 9.2 MB used / total, with undici 12.0 / 17.4 MB). The worker
 * only ever sends long-polling GETs to one agent, which node:http (already in Node's snapshot)
 * does as well.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

/** Options of {@link consulGet}. */
export interface ConsulGetOptions {
  /** Cancels the request, in flight or while its body streams. */
  signal?: AbortSignal;
  /** Until the response headers arrive, ms (a blocking query: its wait plus a margin). */
  headersTimeout: number;
  /** Between two body chunks, ms. */
  bodyTimeout: number;
}

/** A response body: iterate it for its chunks, or take it whole, or throw it away. */
export interface ConsulBody extends AsyncIterable<Buffer> {
  /** The whole body as UTF-8 text. */
  text(): Promise<string>;
  /** Reads and discards the body (the connection goes back to the agent). */
  dump(): Promise<void>;
}

/** What {@link consulGet} answers once the headers are in. */
export interface ConsulGetResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: ConsulBody;
}

/** One keep-alive agent per worker: every blocking query holds one connection. */
const agent = new http.Agent({ keepAlive: true });

/** Sends `GET url`; resolves with the response once its headers arrived. */
export function consulGet(url: string, opts: ConsulGetOptions): Promise<ConsulGetResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, signal: opts.signal });
    const headersTimer = setTimeout(
      () => req.destroy(new Error(`Consul sent no answer within ${opts.headersTimeout} ms: GET ${url}`)),
      opts.headersTimeout,
    );
    req.once('error', (err) => {
      clearTimeout(headersTimer);
      reject(err);
    });
    req.once('response', (res) => {
      clearTimeout(headersTimer);
      resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: bodyOf(res, url, opts.bodyTimeout) });
    });
  });
}

function bodyOf(res: IncomingMessage, url: string, bodyTimeout: number): ConsulBody {
  async function* chunks(): AsyncGenerator<Buffer> {
    // Armed only while this reader waits for data: between chunks the consumer runs synchronously.
    const stall = setTimeout(() => res.destroy(new Error(`Consul's answer stalled for ${bodyTimeout} ms: GET ${url}`)), bodyTimeout);
    try {
      for await (const chunk of res) {
        stall.refresh();
        yield chunk as Buffer;
      }
    } finally {
      clearTimeout(stall);
    }
  }
  return {
    [Symbol.asyncIterator]: () => chunks(),
    async text() {
      const parts: Buffer[] = [];
      for await (const c of chunks()) parts.push(c);
      return Buffer.concat(parts).toString('utf8');
    },
    async dump() {
      for await (const _ of chunks()) void _;
    },
  };
}
