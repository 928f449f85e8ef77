/**
 * A cell split into its order service and two delivery-service instances over a real broker
 * (`cellctl cell --role order|delivery`, docs/kafka.md §Order and delivery services): orders
 * accepted by the order process reach DELIVERED through the delivery processes' group; one
 * delivery instance killed with SIGKILL under load loses no delivery (the group rebalances and
 * the background lease moves); a no-courier order is compensated (the order side cancels it on
 * `delivery.failed`); `--role order|delivery` without `--log kafka` is a usage error that writes
 * nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startKafka } from '../infra/harness/kafka.js';
import { ProcessScope } from '../infra/process.js';
import { client, eventually, orderBody, postOrder, startCellProcess, tempDir } from './testing.js';

const TIMERS = ['--assign-delay', '5ms', '--pickup-after', '100ms', '--deliver-after', '100ms', '--lease-ttl', '1s'];
const ROOT = new URL('..', import.meta.url).pathname;

describe('a cell split into order and delivery services (real broker)', () => {
  it('delivers every order through the delivery group, and loses none when a delivery instance dies', async () => {
    const broker = await startKafka({ name: 'split-roles' });
    const tmp = tempDir();
    try {
      await new ProcessScope().run(async (scope) => {
        const kafka = ['--log', 'kafka', '--kafka', broker.bootstrap, '--partitions', '4'];
        const order = await startCellProcess(scope, {
          id: 'cell-sp',
          dataDir: join(tmp.dir, 'order'),
          args: [...TIMERS, ...kafka, '--role', 'order'],
          name: 'order',
        });
        const delivery = [];
        for (const n of [1, 2])
          delivery.push(
            await startCellProcess(scope, {
              id: 'cell-sp',
              dataDir: join(tmp.dir, 'delivery'),
              args: [...TIMERS, ...kafka, '--role', 'delivery'],
              name: `delivery-${n}`,
            }),
          );
        const c = client(order.url);
        const d1 = client(delivery[0]!.url);
        // The delivery service has no order API, and says what it is.
        assert.equal((await postOrder(d1, 'mk', 'x', orderBody())).status, 404);
        assert.equal(((await (await d1('/admin/status')).json()) as { role: string }).role, 'delivery');

        const ids: string[] = [];
        const post = async (i: number, address = '1 Main St') => {
          const res = await postOrder(c, 'mk', `k${i}`, orderBody({ customerId: `c${i}`, address }));
          assert.equal(res.status, 201);
          ids.push(((await res.json()) as { id: string }).id);
        };
        for (let i = 0; i < 30; i++) await post(i);
        // Kill one delivery instance while orders keep coming.
        delivery[1]!.proc.signal('SIGKILL');
        for (let i = 30; i < 60; i++) await post(i);
        const statuses = async () =>
          Promise.all(ids.map(async (id) => ((await (await c(`/v1/orders/${id}`)).json()) as { status: string }).status));
        const all = await eventually(
          async () => {
            const s = await statuses();
            return s.every((x) => x === 'DELIVERED') ? s : undefined;
          },
          90_000,
          'every order DELIVERED by the surviving delivery instance',
        );
        assert.equal(all.length, 60);

        // Compensation, choreographed: no courier → delivery.failed → the order side cancels.
        const res = await postOrder(c, 'mk', 'nc', orderBody({ customerId: 'nc', address: '1 no-courier St' }));
        const nc = ((await res.json()) as { id: string }).id;
        const cancelled = await eventually(
          async () => {
            const o = (await (await c(`/v1/orders/${nc}`)).json()) as { status: string; cancelReason: string | null };
            return o.status === 'CANCELLED' ? o : undefined;
          },
          60_000,
          'the no-courier order cancelled',
        );
        assert.equal(cancelled.cancelReason, 'no courier available');
      });
    } finally {
      await broker.stop();
      tmp.cleanup();
    }
  });

  it('--role order|delivery without --log kafka is a usage error that writes nothing', () => {
    const tmp = tempDir();
    try {
      const data = join(tmp.dir, 'data');
      for (const role of ['order', 'delivery']) {
        const res = spawnSync(
          process.execPath,
          ['bin/cellctl.js', 'cell', '--id', 'c1', '--port', '0', '--data', data, '--no-consul', '--role', role],
          { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
        );
        assert.equal(res.status, 1, res.stderr);
        assert.match(res.stderr, new RegExp(`--role ${role} needs --log kafka`));
        assert.equal(existsSync(data), false);
      }
    } finally {
      tmp.cleanup();
    }
  });
});
