/**
 * The control channel of `cellctl up`'s supervisor, as a drill uses it: kill a child and keep
 * it down, then let it start again and wait until it is ready.
 */
import type { Topology } from './topology-file.js';

/** Kill/hold/restart of supervised children. */
export interface SupervisorClient {
  killAndHold(component: string): Promise<void>;
  restart(component: string): Promise<void>;
  /** Cuts or restores every link of a host (`cellctl up --hosts`); with `from`, cuts only its paths to those hosts. */
  partitionHost(host: string, cut: boolean, from?: readonly string[]): Promise<void>;
}

/** A fetch: Node's, or one that trusts the topology's CA (an `https:` channel, `cellctl up --hosts --tls`). */
type Get = (url: string, init: RequestInit) => Promise<Response>;

async function post(get: Get, url: string, token: string, method = 'POST'): Promise<unknown> {
  const res = await get(url, { method, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/** A client of the supervisor of the topology in `dataDir` (through `get`: the topology's HTTPS client under `--tls`). */
export function supervisorClient(
  _dataDir: string,
  t: Topology,
  token: string,
  get: Get = (url, init) => fetch(url, init),
): SupervisorClient {
  const base = t.supervisor?.url;
  const need = () => {
    if (!base) throw new Error('this topology has no supervisor control channel (topology.json has no supervisor.url)');
    return base;
  };
  return {
    killAndHold: async (c) => void (await post(get, `${need()}/children/${encodeURIComponent(c)}/kill?hold=true`, token)),
    restart: async (c) => void (await post(get, `${need()}/children/${encodeURIComponent(c)}/start?wait=ready`, token)),
    partitionHost: async (h, cut, from) => {
      const q = from?.length ? `?from=${from.map(encodeURIComponent).join(',')}` : '';
      await post(get, `${need()}/hosts/${encodeURIComponent(h)}/partition${q}`, token, cut ? 'POST' : 'DELETE');
    },
  };
}
