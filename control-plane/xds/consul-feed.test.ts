/**
 * The xDS control plane's Consul feed against the real pinned Consul: a market move is published
 * at once (from the change log or a listing, whichever reads it first), while a change of another watch (a cell record) waits out the
 * debounce. The debounce here is 3 s, so a move seen within 1.5 s was not debounced.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { ConsulClient } from '../../shared/consul/client.js';
import { KvLayout } from '../../shared/kv.js';
import { createLogger } from '../../shared/logger.js';
import { MarketWriter } from '../../shared/markets/writer.js';
import type { BuildInput } from './build.js';
import { startConsulFeed, type ConsulFeed } from './consul-feed.js';

const DEBOUNCE_MS = 3000;

let agent: ConsulAgent;
let feed: ConsulFeed | undefined;
before(async () => {
  agent = await startConsul({ name: 'consul-feed-test' });
  await seedKv(agent.url, { cells: { 'cell-a': {}, 'cell-b': {} }, markets: { 'm-1': { cell: 'cell-a' } } });
});
after(async () => {
  feed?.stop();
  await agent.proc.stop();
});

/** Resolves with the ms from the call until `check` holds for an emitted input. */
function emitted(inputs: BuildInput[], check: (i: BuildInput) => boolean, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const tick = setInterval(() => {
      if (inputs.some(check)) {
        clearInterval(tick);
        resolve(performance.now() - t0);
      } else if (performance.now() - t0 > timeoutMs) {
        clearInterval(tick);
        reject(new Error(`no emit matched within ${timeoutMs} ms`));
      }
    }, 5);
  });
}

describe('Consul feed: moves skip the debounce, other watches keep it', () => {
  it('publishes a change-log move at once and a cell change only after the debounce', async () => {
    const consul = new ConsulClient({ url: agent.url });
    const layout = new KvLayout();
    const inputs: BuildInput[] = [];
    feed = startConsulFeed({
      consul,
      layout,
      log: createLogger('consul-feed-test'),
      debounceMs: DEBOUNCE_MS,
      wait: '5s',
      onChange: (input) => inputs.push(input),
    });
    await emitted(inputs, (i) => i.markets.get('m-1')?.cell === 'cell-a', 20_000);

    const writer = new MarketWriter(consul, layout);
    const t0 = performance.now();
    await writer.put('m-1', { cell: 'cell-b', state: 'active', epoch: 2 });
    await emitted(inputs, (i) => i.markets.get('m-1')?.cell === 'cell-b', DEBOUNCE_MS * 2);
    const moveMs = performance.now() - t0;
    assert.ok(moveMs < DEBOUNCE_MS / 2, `the move was published ${moveMs.toFixed(0)} ms after its write (debounce ${DEBOUNCE_MS} ms)`);

    const t1 = performance.now();
    await seedKv(agent.url, { cells: { 'cell-b': { capacity: 7 } } });
    await emitted(inputs, (i) => i.cells.get('cell-b')?.capacity === 7, DEBOUNCE_MS * 3);
    const cellMs = performance.now() - t1;
    assert.ok(cellMs >= DEBOUNCE_MS - 50, `the cell change was published ${cellMs.toFixed(0)} ms after its write, inside the debounce`);
  });
});
