/**
 * The two waits of a /v1 request before it is proxied: for the routing table (a router just
 * started) and for a frozen market's flip (a migration). Both end in a 503 with Retry-After.
 */
import { HttpError } from '../../shared/errors.js';
import type { Route } from '../table/resolver.js';
import type { RouterDeps } from './deps.js';

/**
 * A request that arrives before the table is complete (a router just started: it listens
 * before the snapshot or Consul is read) waits for it instead of being told `unknown_market`
 * about a market that exists; past `holdMs`, `503 not_ready` with Retry-After. Polled
 * (20 ms): nothing is left registered if the table never comes.
 */
export async function untilReady(table: RouterDeps['table'], holdMs: number): Promise<void> {
  const deadline = performance.now() + holdMs;
  while (table.ready === false) {
    if (performance.now() >= deadline) {
      throw new HttpError('not_ready', 'the router has not loaded its routing table yet', { headers: { 'retry-after': '1' } });
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Holds a frozen market's request until the flip or the hold bound (`503 market_migrating`);
 * returns the new route (`404 unknown_market` when the market went meanwhile).
 */
export async function holdFrozen(
  { hold, metrics, resolver }: Pick<RouterDeps, 'hold' | 'metrics' | 'resolver'>,
  market: string,
  first: Route,
  signal: AbortSignal | undefined,
): Promise<Route> {
  const deadline = performance.now() + hold.holdMs;
  let route: Route | undefined = first;
  metrics.holdWaiting.inc();
  try {
    while (route?.state === 'frozen') {
      const result = await hold.wait(market, deadline - performance.now(), signal);
      if (result !== 'released') {
        metrics.hold.inc({ result });
        throw new HttpError('market_migrating', `market ${market} is being migrated; retry shortly`, { headers: { 'retry-after': '1' } });
      }
      route = resolver.resolve(market);
    }
    metrics.hold.inc({ result: 'released' });
    if (!route) throw new HttpError('unknown_market', `no cell owns market ${market}`);
    return route;
  } finally {
    metrics.holdWaiting.dec();
  }
}
