/**
 * A Consul transport on node:http with one keep-alive agent: the status, the headers and a body
 * read as a stream of chunks (or whole, or discarded), with a timeout until the headers arrive and
 * one between body chunks, cancelled by an AbortSignal.
 *
 * For the router's table worker: a V8 isolate of its own that only ever sends long-polling GETs to
 * one agent, where importing undici (or fetch's copy of it) costs heap that node:http, already in
 * Node's snapshot, does not (docs/router.md has the figures).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { bodyFrom, type ConsulBody, type ConsulTransport } from './transport.js';

/**
 * A transport whose requests share one keep-alive agent (every blocking query holds one
 * connection): node:https for an `https:` URL, trusting `ca` (PEM) when given, else node:http.
 */
export function nodeHttpTransport(o: { ca?: string } = {}): ConsulTransport {
  const agent = new http.Agent({ keepAlive: true });
  let tlsAgent: https.Agent | undefined;
  return (r) =>
    new Promise((resolve, reject) => {
      const secure = r.url.startsWith('https:');
      if (secure) tlsAgent ??= new https.Agent({ keepAlive: true, ...(o.ca ? { ca: o.ca } : {}) });
      const options = { method: r.method, headers: r.headers, signal: r.signal };
      const req = secure ? https.request(r.url, { ...options, agent: tlsAgent }) : http.request(r.url, { ...options, agent });
      const headersTimer = setTimeout(
        () => req.destroy(new Error(`Consul sent no answer within ${r.headersTimeoutMs} ms: ${r.method} ${r.url}`)),
        r.headersTimeoutMs,
      );
      req.once('error', (err) => {
        clearTimeout(headersTimer);
        reject(err);
      });
      req.once('response', (res) => {
        clearTimeout(headersTimer);
        resolve({
          status: res.statusCode ?? 0,
          header: (name) => {
            const v = res.headers[name];
            return Array.isArray(v) ? v[0] : v;
          },
          body: bodyOf(res, `${r.method} ${r.url}`, r.bodyTimeoutMs),
        });
      });
      req.end(r.body);
    });
}

function bodyOf(res: IncomingMessage, what: string, bodyTimeoutMs: number): ConsulBody {
  return bodyFrom(async function* chunks(): AsyncGenerator<Buffer> {
    // Armed only while this reader waits for data: between chunks the consumer runs synchronously.
    const stall = setTimeout(() => res.destroy(new Error(`Consul's answer stalled for ${bodyTimeoutMs} ms: ${what}`)), bodyTimeoutMs);
    try {
      for await (const chunk of res) {
        stall.refresh();
        yield chunk as Buffer;
      }
    } finally {
      clearTimeout(stall);
    }
  });
}
