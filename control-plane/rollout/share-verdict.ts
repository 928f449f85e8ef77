/**
 * The SLO verdict of a step of a market move by share, on the rollout's verdict code
 * (docs/weighted-shifts.md §Market moves by share): the market's requests on the target (the moved share)
 * judged against its requests on the source (the rest) over the same window, by {@link judge}, from
 * the cells' own `/metrics` (each cell counts a market it has a share peer for apart, by market).
 */
import type { WaveVerdict } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { HttpCellAdmin } from '../migration/cell-client.js';
import type { ShareJudge } from '../migration/options.js';
import { diff, parsePrometheus, sum, trafficOf, type Traffic } from './prom.js';
import { DEFAULT_SLO, judge, type SloOptions } from './slo.js';

/** A {@link ShareJudge} reading every registered instance of both cells, passing its checks or not. */
export function shareJudge(
  cells: Pick<HttpCellAdmin, 'registeredInstances' | 'metrics'>,
  log: Logger,
  slo: SloOptions = DEFAULT_SLO,
): ShareJudge {
  const scrape = async (cell: string, market: string): Promise<Traffic> => {
    const parts: Traffic[] = [];
    for (const url of await cells.registeredInstances(cell)) {
      try {
        parts.push(trafficOf(parsePrometheus(await cells.metrics(url)), { market }));
      } catch (err) {
        log.warn({ cell, market, err: (err as Error).message }, 'metrics scrape failed');
      }
    }
    return sum(parts);
  };
  return {
    async start(market, source, target) {
      const [moved0, rest0] = await Promise.all([scrape(target, market), scrape(source, market)]);
      return async (): Promise<WaveVerdict> => {
        const [moved, rest] = await Promise.all([scrape(target, market), scrape(source, market)]);
        return judge(diff(moved, moved0), diff(rest, rest0), slo);
      };
    },
  };
}
