/**
 * `GET /route?market=` of a router run with `--workers n`: whichever worker the request reaches
 * answers with every worker's view of the market (router/http/market-view.ts), since each worker
 * follows Consul and routes on its own. The worker asks the primary over the cluster IPC channel;
 * the primary asks every live worker and answers with what came back within `timeoutMs`, a
 * worker that did not answer named by an `error` (a view the control plane does not count as
 * confirmed). The same pattern as cluster-metrics.ts.
 */
import cluster from 'node:cluster';
import type { MarketView } from './http/market-view.js';

const ASK = 'cellsim:router-views?';
const ANSWER = 'cellsim:router-views';
const QUERY = 'cellsim:router-view?';
const VIEW = 'cellsim:router-view';

interface Message {
  type?: string;
  id?: number;
  market?: string;
  view?: MarketView;
  views?: MarketView[];
  error?: string;
}

/** In the primary: answers the workers' requests for every worker's view of a market. */
export function serveClusterViews(timeoutMs = 1000): void {
  let next = 0;
  const pending = new Map<number, (workerId: number, view: MarketView) => void>();
  cluster.on('message', (asker, msg: Message) => {
    if (msg?.type === VIEW && msg.id !== undefined && msg.view) {
      pending.get(msg.id)?.(asker.id, msg.view);
      return;
    }
    if (msg?.type !== ASK || typeof msg.market !== 'string') return;
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && w.isConnected());
    const qid = ++next;
    const views = new Map<number, MarketView>();
    const finish = () => {
      clearTimeout(timer);
      pending.delete(qid);
      const all = workers.map(
        (w) =>
          views.get(w!.id) ?? {
            worker: w!.id,
            ready: false,
            route: null,
            sending: 0,
            error: `worker ${w!.id} did not answer in ${timeoutMs} ms`,
          },
      );
      if (asker.isConnected()) asker.send({ type: ANSWER, id: msg.id, views: all });
    };
    const timer = setTimeout(finish, timeoutMs);
    pending.set(qid, (workerId, view) => {
      views.set(workerId, { ...view, worker: workerId });
      if (views.size >= workers.length) finish();
    });
    for (const w of workers) w!.send({ type: QUERY, id: qid, market: msg.market });
  });
}

/** In a worker: answers the primary's queries with `local` and returns a function that fetches every worker's view. */
export function clusterViews(local: (market: string) => MarketView, timeoutMs = 3000): (market: string) => Promise<MarketView[]> {
  let next = 0;
  const waiting = new Map<number, (m: Message) => void>();
  process.on('message', (msg: Message) => {
    if (msg?.type === QUERY && msg.id !== undefined && typeof msg.market === 'string') {
      process.send?.({ type: VIEW, id: msg.id, view: local(msg.market) });
    } else if (msg?.type === ANSWER && msg.id !== undefined) {
      waiting.get(msg.id)?.(msg);
      waiting.delete(msg.id);
    }
  });
  return (market) =>
    new Promise<MarketView[]>((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the primary did not answer in ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m.views ?? []);
      });
      process.send?.({ type: ASK, id, market });
    });
}
