/**
 * The HTTP(S) client a component uses to call its peers' own ports (docs/security.md §TLS): the
 * control plane's calls to a cell's admin API and the scrapes of cells' and routers' `/metrics`.
 * With TLS material it speaks HTTPS, trusts only the cellsim CA, presents the component's
 * certificate, and accepts a server only when its certificate names one of the expected roles
 * (peers are reached by address: the identity URI is checked in place of the host name).
 * Without, it is plain HTTP. Node's built-in fetch takes no CA, hence undici's Agent.
 */
import type { PeerCertificate } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import { identityUris, roleOfUri, type TlsMaterial } from './identity.js';
import type { Role } from './names.js';
import { isTlsSource, type TlsSource } from './reload.js';

/** A client of peers: the scheme their URLs take and a fetch that speaks it. */
export interface PeerClient {
  /** `https` with TLS material, else `http`. */
  readonly scheme: 'http' | 'https';
  /** The base URL of a peer at `address:port` in this client's scheme. */
  base(address: string, port: number): string;
  /** A fetch of `url` (an `https:` one with the client certificate, trusting the CA only); callable unbound. */
  readonly fetch: (url: string, init?: RequestInit) => Promise<Response>;
  /** The body of `GET url` within `timeoutMs`; throws on a status other than 2xx. */
  text(url: string, timeoutMs: number): Promise<string>;
  /** Closes the TLS connections kept alive. */
  close(): Promise<void>;
}

/** {@link PeerClient.text} over a fetch. */
function textOf(get: PeerClient['fetch']): PeerClient['text'] {
  return async (url, timeoutMs) => {
    const res = await get(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) {
      await res.arrayBuffer().catch(() => undefined);
      throw new Error(`${url} answered ${res.status}`);
    }
    return res.text();
  };
}

/** A server-identity check accepting a certificate that names one of `roles`. */
export function checkServerRole(roles: readonly Role[]): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const named = identityUris(cert).map(roleOfUri);
    return named.some((r) => r !== undefined && roles.includes(r))
      ? undefined
      : new Error(`the server certificate names none of ${roles.map((r) => `spiffe://cellsim/${r}`).join(', ')}`);
  };
}

/**
 * A client of peers of `roles`: HTTPS with `tls` (its certificate presented, the CA the only
 * trust, the server's identity URI checked), else plain HTTP through the global fetch. Given a
 * watched {@link TlsSource} (shared/pki/reload.ts), each accepted change of the files gives the
 * client a new agent for the requests that follow, while the old one finishes those it carries
 * (docs/tls.md §Rotation without restarts); the source is closed with the client.
 */
export function peerClient(tls: TlsMaterial | TlsSource | undefined, roles: readonly Role[]): PeerClient {
  if (!tls) {
    const plain: PeerClient['fetch'] = (url, init) => fetch(url, init);
    return {
      scheme: 'http',
      base: (address, port) => `http://${address}:${port}`,
      fetch: plain,
      text: textOf(plain),
      close: async () => undefined,
    };
  }
  const agentOf = (m: TlsMaterial) =>
    new Agent({ connect: { ca: m.ca, cert: m.cert, key: m.key, checkServerIdentity: checkServerRole(roles) } });
  if (!isTlsSource(tls)) {
    const fixed = agentOf(tls);
    return agentClient(() => fixed);
  }
  let agent = agentOf(tls.current());
  tls.onChange((m) => {
    const old = agent;
    agent = agentOf(m);
    void old.close().catch(() => undefined);
  });
  const client = agentClient(() => agent);
  return {
    ...client,
    close: async () => {
      tls.close();
      await client.close();
    },
  };
}

/**
 * A client that trusts only the cellsim CA `ca` (PEM) for `https:` URLs, with the usual host-name
 * check (every leaf names 127.0.0.1 and localhost) and no certificate of its own unless `own`
 * gives one (PEM; for a mutual-TLS endpoint): a drill's or a tool's client of a `cellctl up
 * --tls` topology. `http:` URLs pass through unchanged, so one client serves a topology's HTTPS
 * and plain endpoints alike.
 */
export function caClient(ca: string, own?: { cert: string; key: string }): PeerClient {
  const agent = new Agent({ connect: { ca, ...own } });
  return agentClient(() => agent);
}

/** The HTTPS client of the undici Agent `agent()` returns at each request. */
function agentClient(agent: () => Agent): PeerClient {
  // undici's fetch is the one Node's global fetch bundles: the same WHATWG Request and Response,
  // typed by the package's own copy of the declarations, hence one cast of the function.
  const viaAgent = undiciFetch as unknown as (
    url: string,
    init: Omit<RequestInit, 'dispatcher'> & { dispatcher: Agent },
  ) => Promise<Response>;
  const secure: PeerClient['fetch'] = (url, init) => viaAgent(url, { ...init, dispatcher: agent() });
  return {
    scheme: 'https',
    base: (address, port) => `https://${address}:${port}`,
    fetch: secure,
    text: textOf(secure),
    close: () => agent().close(),
  };
}
