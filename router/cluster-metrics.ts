/**
 * `/metrics` of a router run with `--workers n`: whichever worker a scrape reaches answers for
 * all of them. The worker asks the primary over the cluster IPC channel; the primary collects
 * every worker's registry with prom-client's AggregatorRegistry (counters and histograms are
 * summed; see metrics.ts for the gauges) and sends the text back.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const ASK = 'cellsim:router-metrics?';
const ANSWER = 'cellsim:router-metrics';

interface Answer {
  type?: string;
  id?: number;
  text?: string;
  error?: string;
}

/** In the primary: answers the workers' requests for the aggregated metrics. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, msg: Answer) => {
    if (msg?.type !== ASK) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: ANSWER, id: msg.id, text }),
      (err: Error) => worker.send({ type: ANSWER, id: msg.id, error: err.message }),
    );
  });
}

/** In a worker: offers `registry` to the aggregation and returns a function that fetches the aggregated text. */
export function clusterMetricsText(registry: Registry, timeoutMs = 3000): () => Promise<string> {
  // constructing one installs prom-client's own listener that answers the primary's collection
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  let next = 0;
  const waiting = new Map<number, (a: Answer) => void>();
  process.on('message', (msg: Answer) => {
    if (msg?.type !== ANSWER || msg.id === undefined) return;
    waiting.get(msg.id)?.(msg);
    waiting.delete(msg.id);
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the primary did not answer in ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, (a) => {
        clearTimeout(timer);
        if (a.text !== undefined) resolve(a.text);
        else reject(new Error(a.error ?? 'no metrics'));
      });
      process.send?.({ type: ASK, id });
    });
}
