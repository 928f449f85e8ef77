/**
 * The routers as planes of the freeze barrier (freeze-barrier.ts): every instance registered in
 * Consul as `cellsim-router` is asked `GET /route?market=` on its registered address and port
 * (docs/router.md §Route view) with the routers' route-view token (`router-admin`,
 * docs/security.md), over HTTPS with the control plane's certificate under TLS. It
 * confirms when each of its processes (one per worker under `--workers n`) has a complete table
 * that holds the market frozen on the source at the market's epoch (or does not hold the market:
 * it answers 404 and forwards nothing) and has none of the market's requests still on their way
 * to a cell. An instance that refuses the connection serves nothing and confirms as not live; one
 * that does not answer (stopped, cut off, overloaded) does not confirm. Before the freeze, the
 * same question tells whether the instance can be heard at all (`reach`).
 */
import type { ConsulClient } from '../../shared/consul/client.js';
import { SERVICE_ROUTER } from '../../shared/consul-watch.js';
import type { PeerClient } from '../../shared/pki/client.js';
import type { FrozenWant, Plane, PlaneAnswer } from './freeze-barrier.js';

/** One process's view, as a router's `GET /route` answers it (router/http/market-view.ts). */
interface View {
  worker?: number;
  ready: boolean;
  route: { cell: string; state: string; epoch: number } | null;
  sending: number;
  error?: string;
}

/** Why `v` does not hold the market (undefined: it holds it). */
function notHeld(v: View, want: FrozenWant): string | undefined {
  const who = v.worker === undefined ? '' : `worker ${v.worker}: `;
  if (v.error) return `${who}${v.error}`;
  if (!v.ready) return `${who}routing table not loaded`;
  if (v.route === null) return undefined;
  const { cell, state, epoch } = v.route;
  if (state !== 'frozen' || cell !== want.cell || epoch !== want.epoch) return `${who}routes it ${state} on ${cell} at epoch ${epoch}`;
  if (v.sending > 0) return `${who}${v.sending} request(s) still on their way to ${cell}`;
  return undefined;
}

/** True when `err` is a refused connection: nothing listens there. */
function refused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code === 'ECONNREFUSED' || (err as { code?: string }).code === 'ECONNREFUSED';
}

/** The router instance at `base` as a plane for `market`, asked with the route-view `token`. */
export function routerPlane(
  name: string,
  base: string,
  peers: Pick<PeerClient, 'fetch'>,
  market: string,
  want: FrozenWant,
  token: string,
): Plane {
  /** The instance's views, or why there are none (a refused connection: `held`, it serves nothing). */
  const ask = async (timeoutMs: number): Promise<View[] | PlaneAnswer> => {
    let res: Response;
    try {
      res = await peers.fetch(`${base}/route?market=${market}`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      if (refused(err)) return { held: true, note: 'not listening' };
      const e = err as Error;
      return { held: false, why: e.name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (e.message ?? String(err)) };
    }
    const text = await res.text();
    if (!res.ok) return { held: false, why: `answered ${res.status}: ${text.slice(0, 200)}` };
    const views = (JSON.parse(text) as { views?: View[] }).views ?? [];
    return views.length === 0 ? { held: false, why: 'answered no view' } : views;
  };
  return {
    name: `router ${name}`,
    async check(timeoutMs): Promise<PlaneAnswer> {
      const views = await ask(timeoutMs);
      if (!Array.isArray(views)) return views;
      const whys = views.map((v) => notHeld(v, want)).filter((w) => w !== undefined);
      return whys.length ? { held: false, why: whys.join('; ') } : { held: true };
    },
    // Reachable: it answers, every process with its table loaded (docs/operators.md §Waiting for the data planes).
    async reach(timeoutMs): Promise<PlaneAnswer> {
      const views = await ask(timeoutMs);
      if (!Array.isArray(views)) return views;
      const whys = views.flatMap((v) => {
        const why = v.error ? v.error : v.ready ? undefined : 'routing table not loaded';
        return why === undefined ? [] : [v.worker !== undefined ? `worker ${v.worker}: ${why}` : why];
      });
      return whys.length ? { held: false, why: whys.join('; ') } : { held: true };
    },
  };
}

/** Every router instance registered in Consul, as planes for `market` frozen as `want`, asked with `token`. */
export async function routerPlanes(
  consul: ConsulClient,
  peers: PeerClient,
  market: string,
  want: FrozenWant,
  token: string,
): Promise<Plane[]> {
  const { value } = await consul.health.service(SERVICE_ROUTER, { timeoutMs: 3000 });
  return value.map((e) =>
    routerPlane(e.Service.Meta?.id ?? e.Service.ID, peers.base(e.Service.Address, e.Service.Port), peers, market, want, token),
  );
}
