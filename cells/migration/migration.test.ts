import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProcessScope } from '../../infra/process.js';
import { client, eventually, orderBody, postOrder, startCellProcess, tempDir } from '../testing.js';

const TIMERS = ['--assign-delay', '5ms', '--pickup-after', '50ms', '--deliver-after', '50ms'];

type Send = ReturnType<typeof client>;
interface Summary {
  orders: number;
  deliveries: number;
  checksum: string;
  pending: Record<string, number>;
}

const summary = async (c: Send, m: string) => (await (await c(`/admin/markets/${m}/summary`)).json()) as Summary;

async function drained(c: Send, m: string): Promise<Summary> {
  return eventually(
    async () => {
      const s = await summary(c, m);
      return Object.values(s.pending).every((n) => n === 0) && s.orders === s.deliveries ? s : undefined;
    },
    15_000,
    `${m} drained`,
  );
}

async function copy(from: Send, to: Send, path: string, m: string): Promise<{ rows: number; cursor: number; text: string }> {
  const exp = await from(path);
  assert.equal(exp.status, 200);
  assert.match(exp.headers.get('content-type') ?? '', /application\/x-ndjson/);
  const text = await exp.text();
  const res = await to(`/admin/markets/${m}/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: text });
  assert.equal(res.status, 200, await res.clone().text());
  return { ...((await res.json()) as { rows: number; cursor: number }), text };
}

describe('market export, changes and import between two cell processes', () => {
  it('copies a market so both summaries match, carries the delta since a cursor, freezes and purges', async () => {
    const [da, db] = [tempDir(), tempDir()];
    await new ProcessScope()
      .run(async (scope) => {
        const [a, b] = await Promise.all([
          startCellProcess(scope, { id: 'cell-a', dataDir: da.dir, args: TIMERS }),
          startCellProcess(scope, { id: 'cell-b', dataDir: db.dir, args: TIMERS }),
        ]);
        const [ca, cb] = [client(a.url), client(b.url)];
        for (let i = 0; i < 12; i++) assert.equal((await postOrder(ca, 'mig', `k${i}`, orderBody({ customerId: `c${i}` }))).status, 201);
        await postOrder(ca, 'mig', 'nc', orderBody({ address: 'no-courier lane' }));
        await postOrder(ca, 'stay', 's1');
        const before = await drained(ca, 'mig');

        const snap = await copy(ca, cb, '/admin/markets/mig/export', 'mig');
        const lines = snap.text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { type: string; cursor?: number; rows?: number });
        assert.equal(lines[0]!.type, 'header');
        assert.equal(lines.at(-1)!.type, 'end');
        assert.equal(snap.rows, lines.length - 2);
        assert.equal(snap.cursor, lines[0]!.cursor);
        const afterCopy = await summary(cb, 'mig');
        assert.equal(afterCopy.checksum, before.checksum);
        assert.equal(afterCopy.orders, 13);
        assert.equal(afterCopy.deliveries, before.deliveries);
        assert.equal((await summary(cb, 'stay')).orders, 0, 'only the market was copied');
        // Idempotent: the same import again changes nothing.
        await copy(ca, cb, '/admin/markets/mig/export', 'mig');
        assert.equal((await summary(cb, 'mig')).checksum, before.checksum);

        // Delta: new orders and a cancel after the snapshot.
        const fresh: string[] = [];
        for (let i = 0; i < 4; i++) fresh.push(((await (await postOrder(ca, 'mig', `d${i}`)).json()) as { id: string }).id);
        const changed = await drained(ca, 'mig');
        assert.notEqual(changed.checksum, before.checksum);
        const delta = await copy(ca, cb, `/admin/markets/mig/changes?since=${snap.cursor}`, 'mig');
        const orderLines = delta.text
          .split('\n')
          .filter((l) => l.includes('"type":"order"'))
          .map((l) => (JSON.parse(l) as { id: string }).id);
        assert.deepEqual(orderLines.sort(), [...fresh].sort(), 'the delta carries exactly the orders changed since the cursor');
        assert.ok(delta.cursor > snap.cursor);
        const bs = await summary(cb, 'mig');
        assert.equal(bs.checksum, changed.checksum);
        assert.equal(bs.orders, 17);
        // B serves the copied orders with their history.
        const got = (await (await cb(`/v1/orders/${fresh[0]}`)).json()) as { status: string; history: unknown[] };
        assert.equal(got.status, 'DELIVERED');
        assert.equal(got.history.length, 4);
        const emptyDelta = await (await ca(`/admin/markets/mig/changes?since=${delta.cursor}`)).text();
        assert.match(emptyDelta, /"type":"end","cursor":\d+,"rows":0/);

        // Freeze on A: writes refused; purge: the market is gone from A, other markets stay.
        assert.equal((await ca('/admin/markets/mig/freeze', { method: 'POST' })).status, 200);
        const frozen = await postOrder(ca, 'mig', 'late');
        assert.equal(frozen.status, 409);
        assert.equal(((await frozen.json()) as { error: { code: string } }).error.code, 'market_frozen');
        assert.equal((await ca('/admin/markets/mig', { method: 'DELETE' })).status, 200);
        assert.equal((await ca('/admin/markets/mig', { method: 'DELETE' })).status, 200, 'purge is idempotent');
        assert.equal((await summary(ca, 'mig')).orders, 0);
        assert.equal((await summary(ca, 'stay')).orders, 1);
        assert.equal((await postOrder(ca, 'mig', 'late')).status, 201, 'purge also lifts the freeze');

        // Bad imports are refused and write nothing.
        const badCases: [string, string][] = [
          ['wrong market', snap.text.replace('"market":"mig","cursor"', '"market":"other","cursor"')],
          ['truncated', snap.text.split('\n').slice(0, 3).join('\n')],
          ['not json', `${snap.text}{oops\n`],
        ];
        for (const [what, body] of badCases) {
          const res = await cb('/admin/markets/mig/import', { method: 'POST', body });
          assert.equal(res.status, 400, what);
          assert.equal((await summary(cb, 'mig')).checksum, changed.checksum, `${what} wrote nothing`);
        }
        assert.equal((await cb('/admin/markets/BAD!/summary')).status, 400);
        assert.equal((await cb('/admin/markets/mig/changes?since=abc')).status, 400);
      })
      .finally(() => {
        da.cleanup();
        db.cleanup();
      });
  });
});
