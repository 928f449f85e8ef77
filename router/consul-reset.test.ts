/**
 * Integration: a Consul that comes back without its data (a dev agent restarted on the same
 * ports) answers every prefix empty at a lower index. The router keeps its last good markets
 * and cells (degraded, the watch error says why) instead of answering `404 unknown_market` for
 * every market, and applies the prefix again once it is written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { ConsulClient } from '../shared/consul/client.js';
import { seedKv, startEchoCell } from '../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { startRouterProcess } from './testing.js';

interface Ready {
  degraded: boolean;
  table: { markets: number; cells: number; watches: Record<string, { ok: boolean; lastError?: string }> };
}
const readyz = async (url: string) => (await (await fetch(`${url}/readyz`)).json()) as Ready;

describe('router and a Consul that lost its data (real Consul, real processes)', { timeout: 120_000 }, () => {
  it('keeps the last good table when Consul answers empty at a lower index, and applies new writes', async () => {
    const scope = new ProcessScope();
    let echo: Awaited<ReturnType<typeof startEchoCell>>[] = [];
    await scope
      .run(async () => {
        let consul = await startConsul();
        scope.adopt(consul.proc);
        echo = await Promise.all(['cell-a', 'cell-b'].map((cell) => startEchoCell({ cell, consulUrl: consul.url })));
        await seedKv(consul.url, {
          cells: { 'cell-a': {}, 'cell-b': {} },
          markets: { sf: { cell: 'cell-a' }, ny: { cell: 'cell-a' }, la: { cell: 'cell-b' } },
        });
        // raise the index well above what a fresh agent will reach during the test
        const kv = new ConsulClient({ url: consul.url }).kv;
        for (let i = 0; i < 40; i++) await kv.put(`scratch/${i}`, 'x');
        const router = await startRouterProcess(scope, { consulUrl: consul.url });
        await waitFor(
          async () => (await readyz(router.url)).table.markets === 3,
          10_000,
          () => 'table loaded',
        );
        const before = await fetch(`${router.url}/v1/orders`, { headers: { 'x-market-id': 'sf' } });
        assert.equal(before.headers.get('x-cell-id'), 'cell-a');
        await before.arrayBuffer();

        await consul.proc.stop();
        consul = await startConsul({ ports: consul.ports, name: 'consul-empty' });
        scope.adopt(consul.proc);
        let last: Ready | undefined;
        await waitFor(
          async () => {
            last = await readyz(router.url);
            return (
              /lost its data/.test(last.table.watches.markets?.lastError ?? '') &&
              /lost its data/.test(last.table.watches.cells?.lastError ?? '')
            );
          },
          15_000,
          () => `the empty answers are refused: ${JSON.stringify(last)}`,
        );
        assert.equal(last!.table.markets, 3);
        assert.equal(last!.table.cells, 2);
        assert.equal(last!.degraded, true);
        const during = await fetch(`${router.url}/v1/orders`, { headers: { 'x-market-id': 'ny' } });
        const body = (await during.json()) as { error: { code: string } };
        assert.notEqual(body.error?.code, 'unknown_market', 'ny is still a known market');

        // the prefix written again (an operator re-seeding): applied as written
        await seedKv(consul.url, { cells: { 'cell-a': {}, 'cell-b': {} }, markets: { sf: { cell: 'cell-b', epoch: 2 } } });
        await waitFor(
          async () => {
            last = await readyz(router.url);
            return last.table.markets === 1 && last.table.watches.markets?.ok === true;
          },
          15_000,
          () => `re-seeded table applied: ${JSON.stringify(last)}`,
        );
      })
      .finally(() => Promise.all(echo.map((e) => e.close())));
  });
});
