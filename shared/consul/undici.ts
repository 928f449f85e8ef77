/**
 * A Consul transport on undici's `request`, for processes that load undici anyway (the router's
 * request thread, the benchmarks): no second HTTP stack (fetch's own copy of undici) in their heap.
 */
import { Agent, request } from 'undici';
import { bodyFrom, type ConsulTransport } from './transport.js';

/** A transport on undici's global dispatcher; with `ca` (PEM), on an agent that trusts it for `https:` URLs. */
export function undiciTransport(o: { ca?: string } = {}): ConsulTransport {
  const dispatcher = o.ca ? new Agent({ connect: { ca: o.ca } }) : undefined;
  return async (r) => {
    const res = await request(r.url, {
      ...(dispatcher ? { dispatcher } : {}),
      method: r.method,
      headers: r.headers,
      body: r.body,
      signal: r.signal,
      headersTimeout: r.headersTimeoutMs,
      bodyTimeout: r.bodyTimeoutMs,
    });
    return {
      status: res.statusCode,
      header: (name) => {
        const v = res.headers[name];
        return Array.isArray(v) ? v[0] : v;
      },
      body: bodyFrom(() => res.body),
    };
  };
}
