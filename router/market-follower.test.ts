/**
 * Integration: a router follows a table of a few thousand markets through the shared market
 * follower (shared/markets/follower.ts): moves written through the market writer arrive through
 * the change log with one key read each, no listing; a logged change that brings nothing new still
 * moves the reported log position; a market written without the log, a deletion and a garbage
 * value arrive with the paced listing; the snapshot restores the table.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { ConsulClient } from '../shared/consul/client.js';
import { KvLayout } from '../shared/kv.js';
import { appendChanges } from '../shared/markets/change-log.js';
import { MarketWriter } from '../shared/markets/writer.js';
import type { FollowerInfo } from '../shared/markets/follower.js';
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

async function table(url: string): Promise<{ markets: number; marketFollower: FollowerInfo; lastMarketsChange?: { bytes: number } }> {
  return ((await (await fetch(`${url}/readyz`)).json()) as { table: Awaited<ReturnType<typeof table>> }).table;
}

describe('router markets/ follower (real Consul, real processes)', { timeout: 180_000 }, () => {
  it('routes moves through the change log, direct writes, a deletion and garbage through the listing, and restores from its snapshot', async () => {
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

        const snapshot = join(mkdtempSync(join(tmpdir(), 'router-follower-')), 'table.json');
        let router = await startRouterProcess(scope, { consulUrl: consul.url, snapshot, name: 'router-follower' });
        await waitFor(
          async () => (await table(router.url)).markets === MARKETS,
          30_000,
          () => 'table loaded',
        );
        const client = new ConsulClient({ url: consul.url });
        const kv = client.kv;
        const writer = new MarketWriter(client, new KvLayout());
        const put = async (market: string, value: string) => {
          assert.equal(await kv.put(`cellsim/markets/${market}`, value), true);
        };
        const routes = async (market: string, want: string, ms = 5000) => {
          let last = '';
          await waitFor(
            async () => (last = await route(router.url, market)) === want,
            ms,
            () => `router: ${market} → ${last}, want ${want}`,
          );
        };

        // moves written by the product: through the change log, one key read each, no listing
        const before = (await table(router.url)).marketFollower;
        await writer.put('m-1234', { cell: 'cell-b', state: 'active', epoch: 2 });
        await writer.put('m-1', { cell: 'cell-b', state: 'active', epoch: 2 });
        await routes('m-1234', 'cell-b', 2000);
        await routes('m-1', 'cell-b', 2000);
        const after = await table(router.url);
        assert.ok(after.marketFollower.keyReads >= before.keyReads + 2, JSON.stringify(after.marketFollower));
        assert.ok(after.lastMarketsChange && after.lastMarketsChange.bytes < 4096, `a move read ${after.lastMarketsChange?.bytes} bytes`);
        assert.equal(await route(router.url, 'm-12'), 'cell-a', 'a neighbour of the moved markets did not move');

        // a logged change that brings nothing new (its market was read already) still moves the
        // position /readyz reports
        const { log } = await writer.readLog();
        assert.equal(await kv.put(new KvLayout().marketChangesKey, JSON.stringify(appendChanges(log, ['m-1']))), true);
        let seq: number | undefined;
        await waitFor(
          async () => (seq = (await table(router.url)).marketFollower.changeSeq) === log.seq + 1,
          5000,
          () => `router follower at change ${seq}, want ${log.seq + 1}`,
        );

        // a market created without the log is found by the paced listing
        await put('zz-new', JSON.stringify({ cell: 'cell-b', state: 'active', epoch: 1 }));
        await routes('zz-new', 'cell-b', 20_000);

        // a deletion, and a garbage value (the last good record stays)
        assert.equal(await kv.delete('cellsim/markets/m-2000'), true);
        await routes('m-2000', '404 unknown_market', 20_000);
        await put('m-5', '{not json');
        await put('m-6', JSON.stringify({ cell: 'cell-b', state: 'active', epoch: 2 })); // a later change proves m-5's answer was read
        await routes('m-6', 'cell-b', 20_000);
        assert.equal(await route(router.url, 'm-5'), 'cell-a');

        // the table restores from its snapshot with Consul down
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
        await router.proc.kill();
        await consul.proc.stop();
        router = await startRouterProcess(scope, { consulUrl: consul.url, snapshot, name: 'router-follower-restarted' });
        assert.equal((await table(router.url)).markets, MARKETS); // 3000 - m-2000 + zz-new
        assert.equal(await route(router.url, 'm-1'), 'cell-b');
        assert.equal(await route(router.url, 'zz-new'), 'cell-b');
        assert.equal(await route(router.url, 'm-2999'), 'cell-a');
      })
      .finally(() => Promise.all(echo.map((e) => e.close())));
  });
});
