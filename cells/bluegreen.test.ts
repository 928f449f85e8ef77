import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProcessScope } from '../infra/process.js';
import { client, eventually, orderBody, postOrder, startCellProcess, tempDir } from './testing.js';

const TIMERS = ['--assign-delay', '5ms', '--pickup-after', '80ms', '--deliver-after', '80ms', '--lease-ttl', '1s'];

type Send = ReturnType<typeof client>;

async function leaderOf(c: Send): Promise<boolean> {
  return ((await (await c('/admin/status')).json()) as { leader: boolean }).leader;
}

async function allDelivered(send: Send, ids: string[]): Promise<void> {
  for (const id of ids) {
    await eventually(
      async () => (((await (await send(`/v1/orders/${id}`)).json()) as { status: string }).status === 'DELIVERED' ? true : undefined),
      15_000,
      `${id} delivered`,
    );
  }
}

describe('blue and green on the same data directory', () => {
  it('both serve writes, one runs the background work, the other takes over when it dies', async () => {
    const tmp = tempDir();
    await new ProcessScope()
      .run(async (scope) => {
        const blue = await startCellProcess(scope, { id: 'cell-bg', dataDir: tmp.dir, color: 'blue', args: TIMERS });
        const green = await startCellProcess(scope, { id: 'cell-bg', dataDir: tmp.dir, color: 'green', args: TIMERS });
        const [b, g] = [client(blue.url), client(green.url)];
        const ids: string[] = [];
        const sends = await Promise.all(
          Array.from({ length: 40 }, (_, i) => postOrder(i % 2 === 0 ? b : g, 'bg', `k${i}`, orderBody({ customerId: `c${i}` }))),
        );
        for (const res of sends) {
          assert.equal(res.status, 201);
          ids.push(((await res.json()) as { id: string }).id);
        }
        // The same key through the other color is the same order.
        const dup = await postOrder(g, 'bg', 'k0', orderBody({ customerId: 'c0' }));
        assert.equal(dup.status, 200);
        assert.equal(((await dup.json()) as { id: string }).id, ids[0]);
        // Exactly one of the two holds the lease (polled: a holder stalled past its TTL may hand over meanwhile).
        const leaders = await eventually(
          async () => {
            const l = [await leaderOf(b), await leaderOf(g)];
            return l.filter(Boolean).length === 1 ? l : undefined;
          },
          5000,
          'exactly one leader',
        );
        await allDelivered(b, ids);

        const [leader, survivor, survivorSend] = leaders[0] ? [blue, green, g] : [green, blue, b];
        await leader.proc.kill();
        const more: string[] = [];
        for (let i = 0; i < 10; i++) {
          const res = await postOrder(survivorSend, 'bg', `after-${i}`);
          assert.equal(res.status, 201);
          more.push(((await res.json()) as { id: string }).id);
        }
        await eventually(async () => ((await leaderOf(survivorSend)) ? true : undefined), 5000, 'survivor takes the lease');
        await allDelivered(survivorSend, more);
        const s = (await (await survivorSend('/admin/markets/bg/summary')).json()) as { orders: number; deliveries: number };
        assert.equal(s.orders, 50);
        assert.equal(s.deliveries, 50);
        survivor.proc.signal('SIGTERM');
        assert.equal(await survivor.proc.exited, 0);
      })
      .finally(tmp.cleanup);
  });
});
