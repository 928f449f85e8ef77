/**
 * Integration: a router follows a table of a few thousand markets in shards (one blocking
 * query per key prefix, router/table/market-shards.ts) and routes exactly as a router with one
 * query over the whole prefix: moves in a prefix shard and in an exact shard, a market created
 * outside every shard, a deletion, a garbage value; and a sharded snapshot restores the table.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { ConsulClient } from '../shared/consul/client.js';
import { seedKv, startEchoCell } from '../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../infra/process.js';
import { startRouterProcess } from './testing.js';

const MARKETS = 3000;

async function route(url: string, market: string): Promise<string> {
  const res = await fetch(`${url}/v1/orders`, { headers: { 'x-market-id': market } });
  const body = await res.text();
  if (res.status === 200) return res.headers.get('x-cell-id') ?? '?';
  return `${res.status} ${(JSON.parse(body) as { error: { code: string } }).error.code}`;
}

async function table(url: string): Promise<{ markets: number; marketShards: number }> {
  return ((await (await fetch(`${url}/readyz`)).json()) as { table: { markets: number; marketShards: number } }).table;
}

describe('router markets/ shards (real Consul, real processes)', { timeout: 180_000 }, () => {
  it('routes like a single-query router through moves, a new market, a deletion and garbage, and restores from its snapshot', async () => {
    const scope = new ProcessScope();
    let echo: Awaited<ReturnType<typeof startEchoCell>>[] = [];
    await scope
      .run(async () => {
        const consul = await startConsul();
        scope.adopt(consul.proc);
        echo = await Promise.all(['cell-a', 'cell-b'].map((cell) => startEchoCell({ cell, consulUrl: consul.url })));
        const markets: Record<string, { cell: string }> = {};
        for (let i = 0; i < MARKETS; i++) markets[`m-${i}`] = { cell: 'cell-a' };
        await seedKv(consul.url, { cells: { 'cell-a': {}, 'cell-b': {} }, markets });

        const snapshot = join(mkdtempSync(join(tmpdir(), 'router-shards-')), 'table.json');
        let sharded = await startRouterProcess(scope, { consulUrl: consul.url, snapshot, name: 'router-sharded' });
        const single = await startRouterProcess(scope, {
          consulUrl: consul.url,
          extraArgs: ['--market-shards', '1'],
          name: 'router-single',
        });
        await waitFor(
          async () => (await table(sharded.url)).markets === MARKETS && (await table(single.url)).markets === MARKETS,
          30_000,
          () => 'tables loaded',
        );
        await waitFor(
          async () => (await table(sharded.url)).marketShards > 1,
          10_000,
          () => 'sharded',
        );
        const shards = (await table(sharded.url)).marketShards;
        assert.ok(shards > 1 && shards <= 64, `${shards} shards`);
        assert.equal((await table(single.url)).marketShards, 1);

        const kv = new ConsulClient({ url: consul.url }).kv;
        const put = async (market: string, value: string) => {
          assert.equal(await kv.put(`cellsim/markets/${market}`, value), true);
        };
        const both = async (market: string, want: string, ms = 5000) => {
          for (const [name, url] of [
            ['sharded', sharded.url],
            ['single', single.url],
          ] as const) {
            let last = '';
            await waitFor(
              async () => (last = await route(url, market)) === want,
              ms,
              () => `${name} router: ${market} → ${last}, want ${want}`,
            );
          }
        };

        // a move in a prefix shard and in an exact shard (m-1 is also the prefix of m-10, m-100, ...)
        await put('m-1234', JSON.stringify({ cell: 'cell-b', state: 'active', epoch: 2 }));
        await put('m-1', JSON.stringify({ cell: 'cell-b', state: 'active', epoch: 2 }));
        await both('m-1234', 'cell-b', 2000);
        await both('m-1', 'cell-b', 2000);
        assert.equal(await route(sharded.url, 'm-12'), 'cell-a', 'a neighbour of the moved markets did not move');

        // a market created outside every shard is found by the paced discovery read
        await put('zz-new', JSON.stringify({ cell: 'cell-b', state: 'active', epoch: 1 }));
        await both('zz-new', 'cell-b', 20_000);

        // a deletion, and a garbage value (the last good record stays)
        assert.equal(await kv.delete('cellsim/markets/m-2000'), true);
        await both('m-2000', '404 unknown_market');
        await put('m-5', '{not json');
        await put('m-6', JSON.stringify({ cell: 'cell-b', state: 'active', epoch: 2 })); // a later change proves m-5's answer was read
        await both('m-6', 'cell-b');
        assert.equal(await route(sharded.url, 'm-5'), 'cell-a');
        assert.equal(await route(single.url, 'm-5'), 'cell-a');

        // the two routers agree on a sample of the whole table
        for (let i = 0; i < MARKETS; i += 97) assert.equal(await route(sharded.url, `m-${i}`), await route(single.url, `m-${i}`), `m-${i}`);

        // the sharded table restores from its snapshot with Consul down
        await waitFor(
          async () => {
            const { readFileSync } = await import('node:fs');
            try {
              const snap = JSON.parse(readFileSync(snapshot, 'utf8')) as { markets: [string, { cell: string }][] };
              return (
                snap.markets.some(([id, r]) => id === 'zz-new' && r.cell === 'cell-b') && !snap.markets.some(([id]) => id === 'm-2000')
              );
            } catch {
              return false;
            }
          },
          10_000,
          () => 'snapshot holds the changes',
        );
        await sharded.proc.kill();
        await consul.proc.stop();
        sharded = await startRouterProcess(scope, { consulUrl: consul.url, snapshot, name: 'router-sharded-restarted' });
        assert.equal((await table(sharded.url)).markets, MARKETS); // 3000 - m-2000 + zz-new
        assert.equal(await route(sharded.url, 'm-1'), 'cell-b');
        assert.equal(await route(sharded.url, 'zz-new'), 'cell-b');
        assert.equal(await route(sharded.url, 'm-2999'), 'cell-a');
      })
      .finally(() => Promise.all(echo.map((e) => e.close())));
  });
});
