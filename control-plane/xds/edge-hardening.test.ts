/**
 * The hardening of Envoy's edge listener and bootstrap (docs/xds.md §Edge hardening), against
 * real Envoy, Consul and an echo cell: the client's address is the peer's (use_remote_address),
 * client `x-envoy-*` headers are dropped (a client `x-envoy-retry-on` makes no retry), headers
 * with underscores and escaped slashes are refused, an oversized header block gets 431 in the
 * contract's JSON, and the overload manager answers 503 overloaded past its heap bound and
 * refuses connections past its connection bound. The path rules both planes share are in the
 * routing contract suite (routing-contract.test.ts).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startConsul } from '../../infra/harness/consul.js';
import { seedKv, startEchoCell, type EchoCell, type EchoReply } from '../../infra/harness/echo-cell.js';
import { assertError, assertRouted, sendRaw } from '../../infra/harness/routing-contract.js';
import { ProcessScope, waitFor } from '../../infra/process.js';
import { DEFAULT_CLUSTER_OPTIONS } from './resources/cluster.js';
import { startControlPlane, startTestEnvoy, type TestControlPlane, type TestEnvoy } from './testing.js';

/** The connection bound of the overloaded Envoy. */
const MAX_CONNECTIONS = 4;

describe('Envoy edge hardening (real Envoy)', () => {
  const scope = new ProcessScope();
  let cell: EchoCell;
  let cp: TestControlPlane;
  let envoy: TestEnvoy;
  const requests = (): EchoReply[] => cell.received.filter((r) => r.path !== DEFAULT_CLUSTER_OPTIONS.healthCheckPath);

  before(async () => {
    const consul = await startConsul();
    scope.adopt(consul.proc);
    cell = await startEchoCell({ cell: 'cell-a', consulUrl: consul.url });
    await seedKv(consul.url, { cells: { 'cell-a': {} }, markets: { 'm-a': { cell: 'cell-a' } } });
    cp = await startControlPlane(scope, { consulUrl: consul.url, id: 'cp-harden', testHooks: false });
    envoy = await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'edge-harden' });
    await waitFor(
      async () => (await sendRaw(envoy.url, '/v1/orders', [['x-market-id', 'm-a']])).status === 200,
      15_000,
      () => 'Envoy to route m-a',
    );
  });

  after(async () => {
    await cell?.close().catch(() => undefined);
    await scope.close();
  });

  it('takes the client address from the peer (use_remote_address): Envoy appends it to the client x-forwarded-for', async () => {
    const echo = assertRouted(
      await sendRaw(envoy.url, '/v1/orders', [
        ['x-market-id', 'm-a'],
        ['x-forwarded-for', '203.0.113.9'],
      ]),
      'cell-a',
    );
    // Envoy appends the peer (for a loopback peer, as this one, its own host address); without
    // use_remote_address it would pass the client's list on unchanged.
    const xff = (echo.headers['x-forwarded-for'] ?? '').split(',').map((s) => s.trim());
    assert.equal(xff.length, 2, `x-forwarded-for: ${echo.headers['x-forwarded-for']}`);
    assert.equal(xff[0], '203.0.113.9');
    assert.match(xff[1]!, /^[0-9a-f.:]+$/);
    assert.notEqual(xff[1], '203.0.113.9');
  });

  it('drops client x-envoy-* headers: x-envoy-retry-on makes no retry of a failing answer', async () => {
    cell.setFailStatus(503);
    try {
      const before = requests().length;
      const a = await sendRaw(envoy.url, '/v1/orders', [
        ['x-market-id', 'm-a'],
        // Claims an internal origin: an Envoy that trusted it would honour the x-envoy-* headers.
        ['x-forwarded-for', '10.0.0.1'],
        ['x-envoy-retry-on', '5xx,retriable-status-codes'],
        ['x-envoy-retriable-status-codes', '503'],
        ['x-envoy-max-retries', '3'],
      ]);
      assert.equal(a.status, 503, 'the cell answer is passed on');
      const seen = requests().slice(before);
      assert.equal(seen.length, 1, `the cell got ${seen.length} requests (retried on the client's word)`);
      assert.equal(seen[0]!.headers['x-envoy-retry-on'], undefined);
    } finally {
      cell.setFailStatus(0);
    }
  });

  it('refuses a header name with an underscore: 400 invalid_request in JSON, not sent to the cell', async () => {
    const before = requests().length;
    const a = await sendRaw(envoy.url, '/v1/orders', [
      ['x-market-id', 'm-a'],
      ['x_cell_id', 'cell-b'],
    ]);
    assertError(a, 400, 'invalid_request');
    assert.match(String(a.headers['content-type']), /application\/json/);
    assert.equal(requests().length, before);
  });

  it('refuses escaped slashes itself (path_with_escaped_slashes_action), before any filter: 400 invalid_request', async () => {
    const before = requests().length;
    for (const p of ['/v1/orders%2Fx', '/v1/orders%5cx'])
      assertError(await sendRaw(envoy.url, p, [['x-market-id', 'm-a']]), 400, 'invalid_request');
    const stats = await (await fetch(`${envoy.adminUrl}/stats?filter=failed_path_normalization`)).text();
    assert.match(stats, /http\.edge\.downstream_rq_failed_path_normalization: [1-9]/, stats);
    assert.equal(requests().length, before);
  });

  it('answers 431 headers_too_large in JSON to headers over 16 KiB', async () => {
    const a = await sendRaw(envoy.url, '/v1/orders', [
      ['x-market-id', 'm-a'],
      ['x-big', 'b'.repeat(17 * 1024)],
    ]);
    assertError(a, 431, 'headers_too_large');
    assert.match(String(a.headers['content-type']), /application\/json/);
  });

  it('runs an overload manager: past the heap bound new requests get 503 overloaded in JSON, past the connection bound connections are refused', async () => {
    const tight = await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'edge-overload', maxHeapMb: 1, maxConnections: MAX_CONNECTIONS });
    const active = async () =>
      (await (await fetch(`${tight.adminUrl}/stats?filter=stop_accepting_requests`)).text()).includes('stop_accepting_requests.active: 1');
    await waitFor(active, 10_000, () => 'the stop_accepting_requests action to be active');
    const before = requests().length;
    const a = await sendRaw(tight.url, '/v1/orders', [['x-market-id', 'm-a']]);
    assertError(a, 503, 'overloaded');
    assert.equal(requests().length, before, 'an overloaded edge sends nothing to the cell');

    // Open twice the bound at once, keep them open, then ask on each: those past the bound are closed unanswered.
    const sockets: Socket[] = [];
    const outcomes: Promise<'answered' | 'closed'>[] = [];
    for (let i = 0; i < MAX_CONNECTIONS * 2; i++) {
      const s = connect(tight.listenPort, '127.0.0.1');
      sockets.push(s);
      outcomes.push(
        new Promise((resolve) => {
          let data = '';
          s.on('data', (d: Buffer) => {
            data += d.toString();
            if (data.includes('\r\n\r\n')) resolve('answered');
          });
          s.on('error', () => resolve('closed'));
          s.on('close', () => resolve(data.includes('\r\n\r\n') ? 'answered' : 'closed'));
        }),
      );
      await new Promise<void>((resolve) => {
        s.once('connect', () => resolve());
        s.once('error', () => resolve());
      });
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const s of sockets) if (!s.destroyed) s.write('GET /v1/orders HTTP/1.1\r\nhost: edge\r\nx-market-id: m-a\r\n\r\n');
    const results = await Promise.race([
      Promise.all(outcomes),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('sockets neither answered nor closed in 10 s')), 10_000)),
    ]);
    for (const s of sockets) s.destroy();
    const answered = results.filter((r) => r === 'answered').length;
    assert.ok(answered >= 1, `some connection within the bound is answered (${results.join(', ')})`);
    assert.ok(answered <= MAX_CONNECTIONS, `at most ${MAX_CONNECTIONS} connections answered (${results.join(', ')})`);
    const refused = await (await fetch(`${tight.adminUrl}/stats?filter=downstream_global_cx_overflow`)).text();
    assert.match(refused, /downstream_global_cx_overflow: [1-9]/, refused);
  });
});
