/**
 * The freeze barrier's logic with fake planes, and a router as a plane against a local HTTP
 * server answering `GET /route` as a router does (router/http/market-view.ts): which views confirm.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { peerClient } from '../../shared/pki/client.js';
import { freezeBarrier, unreachable, type Plane } from './freeze-barrier.js';
import { routerPlane } from './router-planes.js';

const want = { cell: 'cell-1', epoch: 3 };

describe('freeze barrier', () => {
  it('resolves empty once every plane confirmed, asking each until it does and a confirmed one no more', async () => {
    const asks = { a: 0, b: 0 };
    const planes: Plane[] = [
      { name: 'a', check: async () => (++asks.a, { held: true }) },
      { name: 'b', check: async () => (++asks.b >= 3 ? { held: true } : { held: false, why: 'lagging' }) },
    ];
    assert.deepEqual(await freezeBarrier(planes, 2000, 1), []);
    assert.deepEqual(asks, { a: 1, b: 3 });
  });

  it('past the bound, names each unconfirmed plane with its last reason (a throwing check included)', async () => {
    const t0 = performance.now();
    const left = await freezeBarrier(
      [
        { name: 'envoys', check: async () => ({ held: true }) },
        { name: 'router r-1', check: async () => ({ held: false, why: 'routes it active on cell-1 at epoch 3' }) },
        {
          name: 'router r-2',
          check: async () => {
            throw new Error('socket hang up');
          },
        },
      ],
      150,
      5,
    );
    const took = performance.now() - t0;
    assert.deepEqual(left, ['router r-1: routes it active on cell-1 at epoch 3', 'router r-2: socket hang up']);
    assert.ok(took >= 100 && took < 1000, `bounded, no round in its last 50 ms: ${took} ms`);
  });

  it('bounds a question that never returns by the time left', async () => {
    const hang: Plane = {
      name: 'router r-stopped',
      check: (ms) => new Promise((r) => setTimeout(() => r({ held: false, why: `no answer in ${ms} ms` }), ms)),
    };
    const t0 = performance.now();
    const left = await freezeBarrier([hang], 200, 5, 1000);
    assert.equal(left.length, 1);
    assert.match(left[0]!, /^router r-stopped: no answer in \d+ ms$/);
    assert.ok(performance.now() - t0 < 1000);
  });
});

describe('the reach check before a freeze (docs/operators.md §Waiting for the data planes)', () => {
  it('names each plane that cannot be heard with its reason (a throwing check included); a plane without reach counts as heard', async () => {
    const planes: Plane[] = [
      { name: 'envoys', check: async () => ({ held: false, why: 'x' }) },
      { name: 'router r-ok', check: async () => ({ held: false, why: 'x' }), reach: async () => ({ held: true }) },
      { name: 'router r-cut', check: async () => ({ held: true }), reach: async (ms) => ({ held: false, why: `no answer in ${ms} ms` }) },
      { name: 'router r-bad', check: async () => ({ held: true }), reach: async () => Promise.reject(new Error('socket hang up')) },
    ];
    assert.deepEqual(await unreachable(planes, 700), ['router r-cut: no answer in 700 ms', 'router r-bad: socket hang up']);
    assert.deepEqual(await unreachable(planes.slice(0, 2)), []);
  });
});

describe('a router as a plane of the freeze barrier (GET /route)', () => {
  let server: Server;
  let base = '';
  /** What the fake router answers next. */
  let answer: { status: number; body: unknown; delayMs?: number } = { status: 200, body: {} };
  const seen: string[] = [];
  const auth: (string | undefined)[] = [];
  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      auth.push(req.headers.authorization);
      setTimeout(() => {
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      }, answer.delayMs ?? 0);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const peers = peerClient(undefined, ['router']);
  const view = (v: Record<string, unknown>) => ({ ready: true, route: { cell: 'cell-1', state: 'frozen', epoch: 3 }, sending: 0, ...v });
  const check = async (views: unknown[], status = 200) => {
    answer = { status, body: { id: 'r-1', market: 'sf', views } };
    return routerPlane('r-1', base, peers, 'sf', want, 'route-view-token-0123').check(500);
  };

  it('asks /route for the market and confirms when every process holds it frozen on the source at its epoch with nothing sending', async () => {
    assert.deepEqual(await check([view({})]), { held: true });
    assert.equal(seen.at(-1), '/route?market=sf');
    assert.equal(auth.at(-1), 'Bearer route-view-token-0123', "with the routers' route-view token");
    assert.deepEqual(await check([view({ worker: 1 }), view({ worker: 2 })]), { held: true });
    assert.deepEqual(await check([view({ route: null })]), { held: true }, 'a table without the market forwards nothing');
  });

  it('does not confirm a stale or busy view, a worker without an answer, an error answer or no view', async () => {
    assert.deepEqual(await check([view({ route: { cell: 'cell-1', state: 'active', epoch: 3 } })]), {
      held: false,
      why: 'routes it active on cell-1 at epoch 3',
    });
    assert.deepEqual(await check([view({ worker: 1 }), view({ worker: 2, sending: 2 })]), {
      held: false,
      why: 'worker 2: 2 request(s) still on their way to cell-1',
    });
    assert.deepEqual(await check([view({ route: { cell: 'cell-1', state: 'frozen', epoch: 2 } })]), {
      held: false,
      why: 'routes it frozen on cell-1 at epoch 2',
    });
    assert.deepEqual(await check([view({ ready: false })]), { held: false, why: 'routing table not loaded' });
    assert.deepEqual(await check([view({ worker: 1 }), view({ worker: 2, error: 'worker 2 did not answer in 1000 ms' })]), {
      held: false,
      why: 'worker 2: worker 2 did not answer in 1000 ms',
    });
    assert.deepEqual(await check([]), { held: false, why: 'answered no view' });
    const r = await check([view({})], 500);
    assert.equal(r.held, false);
    assert.match((r as { why: string }).why, /^answered 500: /);
    const refused = await check([view({})], 401);
    assert.equal(refused.held, false, 'a router that refuses the token does not confirm');
    assert.match((refused as { why: string }).why, /^answered 401: /);
  });

  it('is reachable when it answers with every table loaded, whatever its route; not when a table is not loaded or it does not answer', async () => {
    const reach = async (views: unknown[], status = 200, delayMs = 0) => {
      answer = { status, body: { id: 'r-1', market: 'sf', views }, delayMs };
      return routerPlane('r-1', base, peers, 'sf', want, 'route-view-token-0123').reach!(200);
    };
    assert.deepEqual(await reach([view({ route: { cell: 'cell-1', state: 'active', epoch: 3 }, sending: 4 })]), { held: true });
    assert.deepEqual(await reach([view({ worker: 1 }), view({ worker: 2, ready: false })]), {
      held: false,
      why: 'worker 2: routing table not loaded',
    });
    assert.deepEqual(await reach([view({ worker: 1, error: 'worker 1 did not answer in 1000 ms' })]), {
      held: false,
      why: 'worker 1: worker 1 did not answer in 1000 ms',
    });
    assert.equal((await reach([view({})], 401)).held, false);
    assert.deepEqual(await reach([view({})], 200, 400), { held: false, why: 'no answer in 200 ms' });
  });

  it('does not confirm a router that does not answer in time; confirms one that refuses the connection (nothing listens)', async () => {
    answer = { status: 200, body: { views: [view({})] }, delayMs: 400 };
    assert.deepEqual(await routerPlane('r-1', base, peers, 'sf', want, 't').check(100), { held: false, why: 'no answer in 100 ms' });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    assert.deepEqual(await routerPlane('r-gone', `http://127.0.0.1:${port}`, peers, 'sf', want, 't').check(500), {
      held: true,
      note: 'not listening',
    });
  });
});
