/**
 * A Consul transport on undici's `request`, for processes that load undici anyway (the router's
 * request thread, the benchmarks): no second HTTP stack (fetch's own copy of undici) in their heap.
 */
import { Agent, request } from 'undici';
import { caText, type ConsulCaOption } from './tls.js';
import { bodyFrom, type ConsulTransport } from './transport.js';

/**
 * A transport on undici's global dispatcher; with `ca` (PEM), on an agent that trusts it for
 * `https:` URLs. A followed `ca` that changed gets a new agent for the next requests; the old one
 * closes once the requests it carries are done.
 */
export function undiciTransport(o: { ca?: ConsulCaOption } = {}): ConsulTransport {
  let current: { ca: string; agent: Agent } | undefined;
  const dispatcherNow = (): Agent | undefined => {
    const ca = caText(o.ca);
    if (!ca) return undefined;
    if (current?.ca === ca) return current.agent;
    void current?.agent.close();
    current = { ca, agent: new Agent({ connect: { ca } }) };
    return current.agent;
  };
  return async (r) => {
    const dispatcher = dispatcherNow();
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
