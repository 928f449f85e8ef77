/**
 * The order check of kafka-broker-down and delivery-down: every create the load was acknowledged
 * for is read back through the data plane until it settles, and counted (kafka-catch-up.ts). The
 * read goes through the topology's own fetch, which trusts its CA under `cellctl up --tls`
 * (docs/tls.md §Every drill under TLS).
 */
import type { DrillEnv } from '../env/types.js';
import { createdOrders } from '../soak/orders.js';
import { countCatchUp, followOrders, type CatchUpCount, type CatchUpFacts } from './kafka-catch-up.js';
import type { DrillContext, DrillOptions } from './types.js';

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

/** Follows every acknowledged create of the run in `resultsFile` until it settles, marks the counts on the timeline and returns them. */
export async function checkOrders(ctx: DrillContext, resultsFile: string, facts: CatchUpFacts): Promise<CatchUpCount> {
  const created = await createdOrders(resultsFile);
  const settled = await followOrders(created, (o) => readOrderStatus(ctx.env, ctx.opts, o), facts);
  const count = countCatchUp(settled, facts);
  ctx.mark(
    `orders: ${count.delivered} of ${count.acknowledged - count.cancelled} DELIVERED in time, ${count.late} not, ${count.lost} lost, ${count.cancelled} cancelled; catch-up ${count.catchUpMs ?? 'never'} ms`,
  );
  return count;
}
