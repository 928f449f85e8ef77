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
import { caText, type ConsulCaOption } from './tls.js';
import { bodyFrom, type ConsulBody, type ConsulTransport } from './transport.js';

/** The HTTPS agent of one CA, with its requests in flight. */
interface TlsAgent {
  agent: https.Agent;
  ca: string | undefined;
  inFlight: number;
  retired: boolean;
}

/**
 * A transport whose requests share one keep-alive agent (every blocking query holds one
 * connection): node:https for an `https:` URL, trusting `ca` (PEM) when given, else node:http.
 * A followed `ca` that changed gets a new agent for the next requests; the old one is destroyed
 * once the requests it carries are done.
 */
export function nodeHttpTransport(o: { ca?: ConsulCaOption } = {}): ConsulTransport {
  const agent = new http.Agent({ keepAlive: true });
  let tls: TlsAgent | undefined;
  const tlsAgent = (): TlsAgent => {
    const ca = caText(o.ca);
    if (tls && tls.ca === ca) return tls;
    if (tls) {
      tls.retired = true;
      if (tls.inFlight === 0) tls.agent.destroy();
    }
    tls = { agent: new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) }), ca, inFlight: 0, retired: false };
    return tls;
  };
  return (r) =>
    new Promise((resolve, reject) => {
      const secure = r.url.startsWith('https:');
      const options = { method: r.method, headers: r.headers, signal: r.signal };
      let req: http.ClientRequest;
      if (secure) {
        const t = tlsAgent();
        t.inFlight += 1;
        req = https.request(r.url, { ...options, agent: t.agent });
        req.once('close', () => {
          t.inFlight -= 1;
          if (t.retired && t.inFlight === 0) t.agent.destroy();
        });
      } else req = http.request(r.url, { ...options, agent });
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
