import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caClient, type PeerClient } from '../../shared/pki/client.js';
import { readTlsFiles } from '../../shared/pki/identity.js';
import { ensureCertificates, tlsFiles, topologyLeaves } from '../../shared/pki/store.js';
import { countOrders, createdOrders, listMarket, orderVerdicts, type CreatedOrder, type MarketListing } from './orders.js';

const made = (id: string, market = 'nyc', key = `k-${id}`, status = 201): CreatedOrder => ({ id, market, status, key, ackedAt: 0 });
const listed = (market: string, ids: string[], owner = 'cell-1', answeredBy = owner): MarketListing => ({ market, owner, answeredBy, ids });

describe('lost and duplicated orders', () => {
  it('every created order listed once by its owner: nothing lost or duplicated (a 200 replay of the same order is no duplicate)', () => {
    const c = countOrders(
      [made('o1'), made('o2'), made('o3', 'sf'), made('o1', 'nyc', 'k-o1', 200)],
      [listed('nyc', ['o1', 'o2', 'o9']), listed('sf', ['o3'], 'cell-2')],
    );
    assert.deepEqual(
      { created: c.created, lost: c.lost, duplicated: c.duplicated, unchecked: c.unchecked },
      { created: 3, lost: 0, duplicated: 0, unchecked: [] },
    );
    assert.deepEqual(
      orderVerdicts(c).map((v) => v.pass),
      [true, true],
    );
  });

  it('an order missing from its owner is lost, and the verdict fails naming it', () => {
    const c = countOrders([made('o1'), made('o2')], [listed('nyc', ['o1'])]);
    assert.equal(c.lost, 1);
    const [lost, dup] = orderVerdicts(c);
    assert.equal(lost?.pass, false);
    assert.match(lost.measured, /^1 of 2 \(e\.g\. o2 \(nyc\)\)$/);
    assert.equal(dup?.pass, true);
  });

  it('an order listed twice, or two orders under one Idempotency-Key, are duplicates', () => {
    const twice = countOrders([made('o1')], [listed('nyc', ['o1', 'o1'])]);
    assert.equal(twice.duplicated, 1);
    const oneKey = countOrders([made('o1', 'nyc', 'run-7'), made('o2', 'nyc', 'run-7')], [listed('nyc', ['o1', 'o2'])]);
    assert.equal(oneKey.duplicated, 1);
    assert.match(oneKey.examples.duplicated[0] ?? '', /key run-7: o1, o2/);
    const [lost, dup] = orderVerdicts(oneKey);
    assert.equal(lost?.pass, true);
    assert.equal(dup?.pass, false);
  });

  it('a listing that failed, or came from another cell than the owner, leaves its orders lost', () => {
    const failed = countOrders([made('o1')], [{ ...listed('nyc', []), error: '503 cell_unavailable' }]);
    assert.equal(failed.lost, 1);
    assert.match(failed.unchecked[0] ?? '', /nyc \(listing failed: 503/);
    const elsewhere = countOrders([made('o1')], [listed('nyc', ['o1'], 'cell-2', 'cell-1')]);
    assert.equal(elsewhere.lost, 1);
    assert.match(orderVerdicts(elsewhere)[0]!.measured, /answered by cell-1, owner cell-2/);
  });

  it('no 201 create at all fails both verdicts as no data', () => {
    const v = orderVerdicts(countOrders([made('o1', 'nyc', 'k', 200)], [listed('nyc', ['o1'])]));
    assert.deepEqual(
      v.map((x) => [x.pass, x.measured]),
      [
        [false, 'no data (no 201 create)'],
        [false, 'no data (no 201 create)'],
      ],
    );
  });

  it('reads the 2xx creates of a vegeta results file, with market and key from the URL tags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellsim-soak-orders-'));
    const line = (code: number, op: string, body: unknown, k = 'run-1') =>
      JSON.stringify({
        seq: 0,
        code,
        timestamp: '2026-12-01T00:00:00.000000001Z',
        latency: 1e6,
        bytes_out: 0,
        bytes_in: 0,
        error: '',
        body: Buffer.from(JSON.stringify(body)).toString('base64'),
        method: 'POST',
        url: `http://127.0.0.1:1/v1/orders#n=1&m=nyc&o=cell-1&p=router&r=router-0&op=${op}&a=first&k=${k}`,
        headers: {},
      });
    const file = join(dir, 'results.json');
    writeFileSync(
      file,
      [
        line(201, 'create', { id: 'o1' }),
        line(200, 'create', { id: 'o1' }),
        line(503, 'create', { error: { code: 'cell_unavailable' } }),
        line(200, 'get', { id: 'o1' }),
      ].join('\n'),
    );
    // acknowledged when the answer came: sent at the timestamp, 1 ms (latency 1e6 ns) later
    const ackedAt = Date.parse('2026-12-01T00:00:00.000Z') + 1;
    const got = await createdOrders(file);
    assert.deepEqual(
      got.map((o) => ({ ...o, ackedAt: Math.round(o.ackedAt) })),
      [
        { id: 'o1', market: 'nyc', status: 201, key: 'run-1', ackedAt },
        { id: 'o1', market: 'nyc', status: 200, key: 'run-1', ackedAt },
      ],
    );
  });
});

describe('listing a market behind an HTTPS edge (cellctl up --tls)', () => {
  let root: string;
  let server: Server;
  let base: string;
  const client = { current: undefined as PeerClient | undefined };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'cellsim-soak-orders-tls-'));
    const dir = join(root, 'tls');
    await ensureCertificates(dir, topologyLeaves(['cell-1']));
    // The edge: the router's certificate, two pages of orders of nyc, answered by cell-1.
    server = createServer(readTlsFiles(tlsFiles(dir, 'router')), (req, res) => {
      const second = (req.url ?? '').includes('cursor=c2');
      res.setHeader('x-cell-id', 'cell-1');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(second ? { orders: [{ id: 'o2' }], nextCursor: null } : { orders: [{ id: 'o1' }], nextCursor: 'c2' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client.current = caClient(readFileSync(join(dir, 'ca.crt'), 'utf8'));
  });
  after(async () => {
    await client.current?.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(root, { recursive: true, force: true });
  });

  it("lists every page through the topology's fetch, which trusts its CA", async () => {
    const l = await listMarket(base, 'nyc', 'cell-1', client.current!.fetch);
    assert.equal(l.error, undefined);
    assert.deepEqual([l.ids, l.answeredBy], [['o1', 'o2'], 'cell-1']);
  });

  it("Node's own fetch does not trust the topology's CA: the listing fails and its orders count as lost", async () => {
    const l = await listMarket(base, 'nyc', 'cell-1');
    assert.match(l.error ?? '', /fetch failed/);
    const c = countOrders([made('o1')], [l]);
    assert.equal(c.lost, 1);
  });
});
