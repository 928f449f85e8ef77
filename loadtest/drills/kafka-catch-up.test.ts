/**
 * The kafka-broker-down drill's judges on hand-made facts: the order follow-up (polls until
 * DELIVERED or the deadline), its counts and verdicts (late, lost, nothing to judge), the
 * "accepted while down" verdict, and the TCP probe of a broker's listener (a real socket).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { freePort } from '../../infra/ports.js';
import { tcpProbeOnce, hostPort } from '../env/tcp-probe.js';
import type { CreatedOrder } from '../soak/orders.js';
import {
  acceptedWhileDown,
  CATCH_UP_MS,
  catchUpVerdicts,
  countCatchUp,
  followOrders,
  type CatchUpFacts,
  type Settled,
} from './kafka-catch-up.js';

const T = 1_000_000;
const facts: CatchUpFacts = { cell: 'cell-1', downAt: T, backAt: T + 10_000, healAt: T + 8_000 };
const created = (id: string, ackedAt: number, status = 201): CreatedOrder => ({ id, market: 'nyc', status, key: id, ackedAt });
const settled = (id: string, ackedAt: number, status: string, deliveredAt?: number): Settled => ({
  id,
  market: 'nyc',
  ackedAt,
  status,
  deliveredAt,
});

describe('kafka-broker-down: order follow-up', () => {
  it('polls until every order is DELIVERED, once per order id, and stops', async () => {
    const reads: string[] = [];
    let clock = T + 20_000;
    const out = await followOrders(
      [created('a', T + 1000), created('a', T + 1200, 200), created('b', T - 1000), created('c', T + 2000)],
      async (o) => {
        reads.push(o.id);
        clock += 10;
        return o.id === 'c' && reads.filter((x) => x === 'c').length < 3 ? 'PENDING' : 'DELIVERED';
      },
      facts,
      { pollMs: 0, now: () => clock },
    );
    assert.deepEqual(
      out.map((s) => [s.id, s.status]),
      [
        ['a', 'DELIVERED'],
        ['b', 'DELIVERED'],
        ['c', 'DELIVERED'],
      ],
    );
    assert.equal(reads.filter((x) => x === 'a').length, 1);
    assert.equal(reads.filter((x) => x === 'c').length, 3);
  });

  it('gives up on an order at its deadline (never DELIVERED: late)', async () => {
    let clock = T + 20_000;
    const out = await followOrders(
      [created('a', T + 1000)],
      async () => {
        clock += 20_000;
        return 'PENDING';
      },
      facts,
      { pollMs: 0, now: () => clock },
    );
    assert.equal(out[0]!.status, 'PENDING');
    assert.ok(clock > facts.backAt! + CATCH_UP_MS);
    const c = countCatchUp(out, facts);
    assert.equal(c.late, 1);
    assert.equal(catchUpVerdicts(c, 'cell-1')[0]!.pass, false);
  });
});

describe('kafka-broker-down: counts and verdicts', () => {
  it('passes when every order is DELIVERED in time; measures the catch-up from the broker back', () => {
    const c = countCatchUp(
      [settled('a', T - 5000, 'DELIVERED', T - 1000), settled('b', T + 3000, 'DELIVERED', T + 14_000), settled('x', T + 4000, 'CANCELLED')],
      facts,
    );
    assert.deepEqual([c.acknowledged, c.duringOutage, c.delivered, c.late, c.lost, c.cancelled, c.catchUpMs], [3, 2, 2, 0, 0, 1, 4000]);
    assert.deepEqual(
      catchUpVerdicts(c, 'cell-1').map((v) => v.pass),
      [true, true],
    );
  });

  it("holds each order to the drill's --catch-up bound when one is given", () => {
    const short = { ...facts, catchUpMs: 10_000 };
    const at = (deliveredAt: number) => countCatchUp([settled('a', T + 1000, 'DELIVERED', deliveredAt)], short);
    assert.equal(at(facts.backAt! + 10_000).late, 0);
    assert.equal(at(facts.backAt! + 10_001).late, 1);
    assert.match(catchUpVerdicts(at(facts.backAt! + 10_001), 'cell-1', undefined, 10_000)[0]!.threshold, /^every one within 10 s /);
  });

  it('fails DELIVERED when one came after its deadline, and lost when the owner answered 404', () => {
    const late = countCatchUp([settled('a', T + 1000, 'DELIVERED', facts.backAt! + CATCH_UP_MS + 1)], facts);
    assert.equal(late.late, 1);
    assert.deepEqual(
      catchUpVerdicts(late, 'cell-1').map((v) => v.pass),
      [false, true],
    );
    const lost = countCatchUp([settled('a', T + 1000, 'DELIVERED', T + 11_000), settled('b', T + 1000, 'missing')], facts);
    assert.equal(lost.lost, 1);
    const [delivered, lostVerdict] = catchUpVerdicts(lost, 'cell-1');
    assert.equal(delivered!.pass, false);
    assert.equal(lostVerdict!.pass, false);
    assert.match(lostVerdict!.measured, /^1 of 2 \(e\.g\. b \(nyc\)\)/);
  });

  it('fails with no data when no order was acknowledged during the outage', () => {
    const c = countCatchUp([settled('a', T - 5000, 'DELIVERED', T - 1000)], facts);
    const [v] = catchUpVerdicts(c, 'cell-1');
    assert.equal(v!.pass, false);
    assert.match(v!.measured, /^no data/);
  });

  it('"accepted while down" fails on one failed create to the cell in the outage, and with none at all', () => {
    const outage = { cell: 'cell-1', downAt: T, backAt: T + 10_000 };
    const req = (owner: string, start: number, failed: boolean, op = 'create') => ({
      start,
      end: start + 5,
      owner,
      plane: 'router',
      op,
      failed,
    });
    const ok = [
      req('cell-1', T + 100, false),
      req('cell-0', T + 200, true),
      req('cell-1', T - 100, true),
      req('cell-1', T + 300, true, 'get'),
    ];
    assert.deepEqual(
      acceptedWhileDown(ok, outage, ['router']).map((v) => [v.pass, v.measured]),
      [[true, '1 of 1 creates answered 2xx']],
    );
    assert.equal(acceptedWhileDown([...ok, req('cell-1', T + 400, true)], outage, ['router'])[0]!.pass, false);
    assert.equal(acceptedWhileDown(ok, outage, ['envoy'])[0]!.pass, false);
  });
});

describe('kafka-broker-down: TCP probe of a listener', () => {
  it('a listening port accepts; a closed one refuses', async () => {
    const port = await freePort();
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      assert.deepEqual(await tcpProbeOnce('127.0.0.1', port).then((p) => [p.answered, p.detail]), [true, 'accepted']);
    } finally {
      await new Promise((r) => server.close(r));
    }
    assert.deepEqual(await tcpProbeOnce('127.0.0.1', port).then((p) => [p.answered, p.detail]), [false, 'ECONNREFUSED']);
    assert.deepEqual(hostPort('127.0.0.1:9201'), { host: '127.0.0.1', port: 9201 });
    assert.throws(() => hostPort('nope'), /not host:port/);
  });
});
