/**
 * An order's status read back through the data plane (kafka-broker-down, delivery-down): every
 * acknowledged order must reach DELIVERED. The read goes through the topology's own fetch, which
 * trusts its CA under `cellctl up --tls` (docs/tls.md §Every drill under TLS).
 */
import type { DrillEnv } from '../env/types.js';
import type { DrillOptions } from './types.js';

/** The status of order `o` through the first replica of the first plane driven; 'missing' on a 404. */
export async function readOrderStatus(env: DrillEnv, opts: DrillOptions, o: { id: string; market: string }): Promise<string> {
  const base = env.targets(opts.planes)[0];
  if (!base) throw new Error('no data-plane replica');
  const res = await (env.fetch ?? fetch)(`${base.url}/v1/orders/${encodeURIComponent(o.id)}`, {
    headers: { 'x-market-id': o.market },
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.text();
  if (res.status === 404) return 'missing';
  if (!res.ok) throw new Error(`HTTP ${res.status} ${body.slice(0, 120)}`);
  return (JSON.parse(body) as { status: string }).status;
}
