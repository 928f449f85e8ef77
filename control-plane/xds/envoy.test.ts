/**
 * The xDS control plane driving real Envoy, against real Consul and real upstream cells:
 * routing with x-cell-id, every contract error, a KV flip, a sick cell failing fast while
 * others are unaffected, bad Consul values never reaching Envoy, a deliberately rejected
 * config (NACK recorded, last good config still serving), the control plane killed (Envoy
 * keeps routing) and restarted (resync), and a second replica publishing the same content.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../../infra/harness/consul.js';
import { ConsulClient } from '../../shared/consul/client.js';
import { seedKv, startEchoCell, type EchoCell } from '../../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../../infra/process.js';
import { request } from 'undici';
import { assertError, assertRouted, send } from '../../infra/harness/routing-contract.js';
import type { NodeStatus } from './cache/status.js';
import { DEFAULT_CLUSTER_OPTIONS } from './resources/cluster.js';
import { startControlPlane, startTestEnvoy, type TestControlPlane, type TestEnvoy } from './testing.js';

const HOLD_MS = 600;
/** --panic-ms of the control plane under test (short, so the test sees it run out). */
const PANIC_MS = 2000;
/** --flip-grace-ms of the control plane under test (short, so the test sees the fallback leave). */
const FLIP_GRACE_MS = 3000;

interface Status {
  id: string;
  snapshots: Record<string, Record<string, { version: string; resources: number }>>;
  nodes: NodeStatus[];
}

describe('xDS control plane with real Envoy and Consul', () => {
  const scope = new ProcessScope();
  let consul: ConsulAgent;
  let cp: TestControlPlane;
  let envoy: TestEnvoy;
  const cells = new Map<string, EchoCell>();
  const market = (m: string, base?: string) => send(base ?? envoy.url, '/v1/orders', [['x-market-id', m]]);
  const status = async (c: TestControlPlane = cp): Promise<Status> => (await fetch(`${c.httpUrl}/xds/status`)).json() as Promise<Status>;
  const routedTo = async (m: string, cell: string, base?: string) => {
    const a = await market(m, base);
    return a.status === 200 && a.headers['x-cell-id'] === cell;
  };
  const node = async (id: string, c: TestControlPlane = cp) => (await status(c)).nodes.find((n) => n.id === id);
  const passingIds = async (service: string, meta: string) => {
    const { value: entries } = await new ConsulClient({ url: consul.url }).health.service(service, { passing: true });
    return entries.map((e) => e.Service.Meta?.[meta]);
  };
  const passingControlPlanes = () => passingIds('cellsim-xds', 'id');
  /** The passing cellsim-xds instances the moment cp-1 answered /readyz 200. */
  let passingAtReady: (string | undefined)[] = [];

  before(async () => {
    consul = await startConsul();
    scope.adopt(consul.proc);
    for (const id of ['cell-a', 'cell-b', 'cell-g']) cells.set(id, await startEchoCell({ cell: id, consulUrl: consul.url }));
    await seedKv(consul.url, {
      cells: { 'cell-a': {}, 'cell-b': {}, 'cell-g': { global: true } },
      markets: {
        'm-a': { cell: 'cell-a' },
        'm-b': { cell: 'cell-b' },
        'm-flip': { cell: 'cell-a' },
        'm-frozen': { cell: 'cell-a', state: 'frozen' },
      },
    });
    cp = await startControlPlane(scope, {
      consulUrl: consul.url,
      id: 'cp-1',
      holdMs: HOLD_MS,
      panicMs: PANIC_MS,
      flipGraceMs: FLIP_GRACE_MS,
    });
    passingAtReady = await passingControlPlanes();
    envoy = await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'edge-1' });
    await waitFor(
      async () => (await routedTo('m-a', 'cell-a')) && (await routedTo('m-b', 'cell-b')),
      15_000,
      () => 'Envoy to route m-a and m-b',
    );
  });

  after(async () => {
    for (const c of cells.values()) await c.close().catch(() => undefined);
    await scope.close();
  });

  it('routes each market to its owning cell with x-cell-id, /v1/global/ to the global cell, and strips client x-cell-id', async () => {
    for (const [m, cell] of [
      ['m-a', 'cell-a'],
      ['m-b', 'cell-b'],
    ] as const) {
      const echo = assertRouted(await market(m), cell);
      assert.equal(echo.headers['x-market-id'], m);
      assert.equal(echo.headers['x-cellsim-scope'], `m/${m}`, "the scope header a cell gets is Envoy's own");
    }
    assertRouted(await send(envoy.url, '/v1/global/ping'), 'cell-g');
    const spoof = await send(envoy.url, '/v1/orders', [
      ['x-market-id', 'm-a'],
      ['x-cell-id', 'cell-b'],
      ['x-cellsim-scope', 'm/m-b'],
    ]);
    const echo = assertRouted(spoof, 'cell-a');
    assert.equal(echo.headers['x-cell-id'], undefined, 'client x-cell-id stripped');
    assert.equal(echo.headers['x-cellsim-scope'], 'm/m-a', "a client's scope header replaced by Envoy's");
  });

  it("is a passing hold endpoint in Consul as soon as it is ready (no wait for Consul's first check)", () => {
    assert.deepEqual(passingAtReady, ['cp-1']);
  });

  /** Requests the cells received, Envoy's liveness probes left out. */
  const receivedByCells = () =>
    [...cells.values()].reduce((n, c) => n + c.received.filter((r) => r.path !== DEFAULT_CLUSTER_OPTIONS.healthCheckPath).length, 0);

  it('answers every contract error as JSON without reaching a cell', async () => {
    const before = receivedByCells();
    assertError(await send(envoy.url, '/v1/orders'), 400, 'missing_market');
    assertError(await send(envoy.url, '/v1/orders', [['x-market-id', '']]), 400, 'missing_market');
    for (const bad of ['M-A', 'm_a', '-ma', `m${'a'.repeat(63)}`, 'm-a,m-b', '_global']) {
      assertError(await send(envoy.url, '/v1/orders', [['x-market-id', bad]]), 400, 'invalid_market');
    }
    assertError(
      await send(envoy.url, '/v1/orders', [
        ['x-market-id', 'm-a'],
        ['x-market-id', 'm-b'],
      ]),
      400,
      'invalid_market',
    );
    const unknown = await market('m-nobody');
    assertError(unknown, 404, 'unknown_market');
    assert.match(String(unknown.headers['content-type']), /application\/json/);
    const frozen = await market('m-frozen');
    assertError(frozen, 503, 'market_migrating');
    assert.equal(frozen.headers['retry-after'], '1');
    assert.ok(frozen.ms >= HOLD_MS * 0.9, `held ${frozen.ms.toFixed(0)} ms before 503 (bound ${HOLD_MS})`);
    assert.equal(receivedByCells(), before, 'no error request reached a cell');
  });

  it('applies a KV flip: the market moves to its new cell', async () => {
    assertRouted(await market('m-flip'), 'cell-a');
    const t0 = Date.now();
    await seedKv(consul.url, { markets: { 'm-flip': { cell: 'cell-b', epoch: 2 } } });
    await waitFor(
      () => routedTo('m-flip', 'cell-b'),
      5000,
      () => 'm-flip on cell-b',
      10,
    );
    const ms = Date.now() - t0;
    assert.ok(ms < 2000, `flip reached Envoy in ${ms} ms`);
    for (let i = 0; i < 10; i++) assertRouted(await market('m-flip'), 'cell-b');
  });

  it('releases a held request for a frozen market to the new owner when it flips', async () => {
    await seedKv(consul.url, { markets: { 'm-hold': { cell: 'cell-a', state: 'frozen' } } });
    await waitFor(
      async () => (await market('m-hold')).status === 503,
      5000,
      () => 'm-hold frozen',
    );
    const pending = market('m-hold');
    await new Promise((r) => setTimeout(r, 150));
    await seedKv(consul.url, { markets: { 'm-hold': { cell: 'cell-b', epoch: 2 } } });
    const a = await pending;
    assertRouted(a, 'cell-b');
    assert.ok(a.ms < HOLD_MS, `released in ${a.ms.toFixed(0)} ms`);
  });

  // A write Envoy routed to the owner before the market froze, answered by the owner only after it
  // froze (cells/http/frozen-release.ts; the echo cell answers as a real cell does, tested in
  // cells/order-routes.test.ts): Envoy follows the owner's 307, now through the frozen route's
  // hold, to the new owner, body and all; the client sees one answer.
  it('routes a write the old owner answers 307 after it froze again: held, then sent to the new owner with its body', async () => {
    const a = cells.get('cell-a')!;
    const b = cells.get('cell-b')!;
    await seedKv(consul.url, { markets: { 'm-late': { cell: 'cell-a' } } });
    await waitFor(
      () => routedTo('m-late', 'cell-a'),
      5000,
      () => 'm-late on cell-a',
    );
    const body = JSON.stringify({ customerId: 'late-1', items: [{ sku: 'tea', qty: 1, priceCents: 300 }] });
    const lateWrites = (c: EchoCell) => c.received.filter((r) => r.headers['x-market-id'] === 'm-late' && r.method === 'POST');
    const ANSWER_MS = 1500;
    a.setDelayMs(ANSWER_MS);
    try {
      const pending = request(`${envoy.url}/v1/orders?late=1`, {
        method: 'POST',
        headers: { 'x-market-id': 'm-late', 'content-type': 'application/json', 'x-cellsim-edge-redirect': 'spoofed' },
        body,
        headersTimeout: 15_000,
      });
      await waitFor(
        () => lateWrites(a).length > 0,
        2000,
        () => 'the write on cell-a',
        5,
      );
      const atCell = Date.now();
      assert.equal(lateWrites(a)[0]!.headers['x-cellsim-edge-redirect'], '307', "Envoy's own value, the client's overwritten");
      // The migration's order while the write waits in cell-a: the market frozen in Consul (Envoy
      // routes it to the hold), the owner frozen; cell-a answers 307 at ANSWER_MS, and the write
      // waits at the hold until the flip, made just after.
      await seedKv(consul.url, { markets: { 'm-late': { cell: 'cell-a', state: 'frozen' } } });
      a.setFrozenMarkets(['m-late']);
      await new Promise((r) => setTimeout(r, Math.max(0, atCell + ANSWER_MS + 50 - Date.now())));
      await seedKv(consul.url, { markets: { 'm-late': { cell: 'cell-b', epoch: 2 } } });
      const res = await pending;
      const text = await res.body.text();
      const redirectStats =
        res.statusCode === 200
          ? ''
          : (await (await fetch(`${envoy.adminUrl}/stats?filter=redirect`)).text())
              .split('\n')
              .filter((l) => !/: 0$/.test(l))
              .join('; ');
      assert.equal(res.statusCode, 200, `${text} ${JSON.stringify(res.headers)} ${redirectStats}`);
      assert.equal(res.headers['x-cell-id'], 'cell-b');
      const got = lateWrites(b);
      assert.equal(got.length, 1, 'one write on the new owner');
      assert.equal(got[0]!.body, body, 'with its body');
      assert.equal(got[0]!.path, '/v1/orders');
      assert.match(got[0]!.headers['x-envoy-original-url'] ?? '', /\/v1\/orders\?late=1$/, 'redirected by Envoy');
      assert.equal(lateWrites(a).length, 1, 'cell-a asked once');
    } finally {
      a.setDelayMs(0);
      a.setFrozenMarkets([]);
    }
  });

  it('answers 409 market_frozen after one more visit when the owner is frozen while Envoy still routes to it (no loop)', async () => {
    const a = cells.get('cell-a')!;
    const seen = () => a.received.filter((r) => r.headers['x-market-id'] === 'm-a' && r.method === 'POST').length;
    const before = seen();
    a.setFrozenMarkets(['m-a']);
    try {
      const res = await request(`${envoy.url}/v1/orders`, {
        method: 'POST',
        headers: { 'x-market-id': 'm-a', 'content-type': 'application/json' },
        body: '{}',
        headersTimeout: 15_000,
      });
      const text = await res.body.text();
      assert.equal(res.statusCode, 409, text);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'market_frozen');
      assert.equal(seen() - before, 2, 'cell-a asked twice: its 307 followed once, then refused');
    } finally {
      a.setFrozenMarkets([]);
    }
  });

  it('keeps a cell Consul calls critical routed for --panic-ms, then fails it fast with 503 cell_unavailable while other cells are unaffected, and recovers', async () => {
    const b = cells.get('cell-b')!;
    b.setHealthy(false);
    try {
      await waitFor(
        async () => {
          const { value: passing } = await new ConsulClient({ url: consul.url }).health.service('cellsim-cell', { passing: true });
          return passing.every((e) => e.Service.Meta?.cell !== 'cell-b');
        },
        8000,
        () => 'Consul to call cell-b critical',
      );
      const criticalAt = Date.now();
      // Panic routing: the last passing instance stays in EDS (a Consul restart or a missed 1 s
      // check must not fail every market of a serving cell).
      while (Date.now() - criticalAt < PANIC_MS / 2) {
        assertRouted(await market('m-b'), 'cell-b');
        await new Promise((r) => setTimeout(r, 50));
      }
      await waitFor(
        async () => (await market('m-b')).status === 503,
        PANIC_MS + 5000,
        () => 'm-b to fail once --panic-ms has passed',
      );
      for (let i = 0; i < 5; i++) {
        const a = await market('m-b');
        assertError(a, 503, 'cell_unavailable');
        assert.equal(a.headers['retry-after'], '1');
        assert.ok(a.ms < 250, `failed in ${a.ms.toFixed(1)} ms`);
        assertRouted(await market('m-a'), 'cell-a');
      }
    } finally {
      b.setHealthy(true);
    }
    await waitFor(
      () => routedTo('m-b', 'cell-b'),
      8000,
      () => 'm-b to recover',
    );
  });

  it('routes a brand-new cell as soon as its first instance passes (health changes not merged for a second)', async () => {
    await seedKv(consul.url, { cells: { 'cell-n': {} }, markets: { 'm-new-cell': { cell: 'cell-n' } } });
    await waitFor(
      async () => (await market('m-new-cell')).status === 503,
      5000,
      () => 'm-new-cell routed to a cell without instances',
    );
    cells.set('cell-n', await startEchoCell({ cell: 'cell-n', consulUrl: consul.url }));
    await waitFor(
      async () => (await passingIds('cellsim-cell', 'cell')).includes('cell-n'),
      5000,
      () => 'cell-n passing in Consul',
      5,
    );
    const t0 = performance.now();
    await waitFor(
      () => routedTo('m-new-cell', 'cell-n'),
      5000,
      () => 'Envoy to route m-new-cell',
      5,
    );
    const ms = performance.now() - t0;
    // Consul → control plane → EDS → Envoy's first check: tens of ms; Envoy's default update
    // merge window alone kept the healthy host out for up to 1 s.
    assert.ok(ms < 600, `routed ${ms.toFixed(0)} ms after Consul listed the instance as passing`);
    for (let i = 0; i < 10; i++) assertRouted(await market('m-new-cell'), 'cell-n');
  });

  it('keeps a cell served through a blue/green flip while Envoy has not checked the new color yet (old color at priority 1 for --flip-grace-ms)', async () => {
    cells.set('cell-c', await startEchoCell({ cell: 'cell-c', consulUrl: consul.url, color: 'blue' }));
    const green = await startEchoCell({ cell: 'cell-c', consulUrl: consul.url, color: 'green' });
    cells.set('cell-c-green', green);
    // Every green answer, Envoy's first active check of it included, takes 700 ms: for that long
    // after the flip reaches Envoy, the green host is not healthy yet.
    green.setDelayMs(700);
    await seedKv(consul.url, { cells: { 'cell-c': { activeColor: 'blue' } }, markets: { 'm-c': { cell: 'cell-c' } } });
    const colorOf = (a: Awaited<ReturnType<typeof market>>) => (a.json as { color?: string } | undefined)?.color;
    await waitFor(
      async () => colorOf(await market('m-c')) === 'blue',
      10_000,
      () => 'Envoy to route m-c to blue',
    );
    await seedKv(consul.url, { cells: { 'cell-c': { activeColor: 'green' } } });
    const answers: { status: number; color: string | undefined }[] = [];
    const deadline = performance.now() + 10_000;
    while (answers.filter((a) => a.color === 'green').length < 2 && performance.now() < deadline) {
      const a = await market('m-c');
      answers.push({ status: a.status, color: colorOf(a) });
    }
    const failed = answers.filter((a) => a.status !== 200);
    assert.deepEqual(failed, [], `${failed.length} of ${answers.length} requests failed during the flip`);
    assert.equal(answers.filter((a) => a.color === 'green').length, 2, 'green took the traffic');
    assert.ok(
      answers.some((a) => a.color === 'blue'),
      'blue answered after the flip was written',
    );
    // After the grace, the old color is gone from Envoy's cluster for cell-c.
    const hostsOfCellC = async () => {
      const body = (await (await fetch(`${envoy.adminUrl}/clusters?format=json`)).json()) as {
        cluster_statuses: { name: string; host_statuses?: unknown[] }[];
      };
      return body.cluster_statuses.find((c) => c.name === 'cell:cell-c')?.host_statuses?.length ?? 0;
    };
    assert.equal(await hostsOfCellC(), 2, 'both colors in the cluster during the grace');
    await waitFor(
      async () => (await hostsOfCellC()) === 1,
      FLIP_GRACE_MS + 5000,
      () => 'the old color to leave the cluster after --flip-grace-ms',
    );
    green.setDelayMs(0);
    assert.equal(colorOf(await market('m-c')), 'green');
  });

  it('never publishes a bad Consul value: invalid JSON and an unroutable endpoint are left out, no NACK', async () => {
    const nacksBefore = (await node('edge-1'))!.types;
    const client = new ConsulClient({ url: consul.url });
    await client.kv.put('cellsim/markets/m-a', '{not json');
    await client.kv.put('cellsim/markets/Bad_Key', '{"cell":"cell-b","state":"active","epoch":1}');
    await client.agent.register({
      ID: 'cellsim-cell-cell-b-bogus',
      Name: 'cellsim-cell',
      Address: 'not-an-ip',
      Port: 1,
      Meta: { cell: 'cell-b', color: 'blue', version: 'v1' },
    });
    try {
      await seedKv(consul.url, { markets: { 'm-after-bad': { cell: 'cell-b' } } });
      await waitFor(
        () => routedTo('m-after-bad', 'cell-b'),
        5000,
        () => 'a later good change to apply',
      );
      assertRouted(await market('m-a'), 'cell-a'); // last good value kept
      assertError(await send(envoy.url, '/v1/orders', [['x-market-id', 'Bad_Key']]), 400, 'invalid_market');
      for (const [type, t] of Object.entries((await node('edge-1'))!.types)) {
        assert.equal(t.nacks, nacksBefore[type]?.nacks ?? 0, `${type}: no NACK`);
      }
      const metrics = await (await fetch(`${cp.httpUrl}/metrics`)).text();
      assert.match(metrics, /cellsim_xds_invalid_inputs_total\{kind="market"[^}]*\} [1-9]/);
      assert.match(metrics, /cellsim_xds_invalid_inputs_total\{kind="endpoint"[^}]*\} [1-9]/);
    } finally {
      await client.agent.deregister('cellsim-cell-cell-b-bogus');
      await client.kv.delete('cellsim/markets/Bad_Key');
      await seedKv(consul.url, { markets: { 'm-a': { cell: 'cell-a' } } });
    }
  });

  it('records a rejected config as a NACK, keeps serving the last good config, and recovers when the snapshot changes', async () => {
    const before = (await node('edge-1'))!.types.cds!;
    const inject = await fetch(`${cp.httpUrl}/xds/test/invalid`, { method: 'POST' });
    assert.equal(inject.status, 201);
    await waitFor(
      async () => ((await node('edge-1'))!.types.cds!.nacks ?? 0) > before.nacks,
      5000,
      () => 'a CDS NACK',
    );
    const cds = (await node('edge-1'))!.types.cds!;
    assert.equal(cds.lastAckedVersion, before.lastAckedVersion, 'last ACKed version kept');
    assert.notEqual(cds.lastNack?.version, before.lastAckedVersion);
    assert.match(cds.lastNack?.error ?? '', /connect_timeout|Proto constraint|duration/i);
    assert.equal(cds.parked, true);
    const pushes = cds.pushes;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await node('edge-1'))!.types.cds!.pushes, pushes, 'the rejected version is not resent');
    assertRouted(await market('m-a'), 'cell-a');
    assertRouted(await market('m-b'), 'cell-b');
    // Routing changes of other types still flow while CDS is parked.
    await seedKv(consul.url, { markets: { 'm-during-nack': { cell: 'cell-a' } } });
    await waitFor(
      () => routedTo('m-during-nack', 'cell-a'),
      5000,
      () => 'a scope change during the NACK',
    );
    assert.match(await (await fetch(`${cp.httpUrl}/metrics`)).text(), /cellsim_xds_nacks_total\{type="cds"[^}]*\} [1-9]/);
    await fetch(`${cp.httpUrl}/xds/test/invalid`, { method: 'DELETE' });
    // Back to the good content: Envoy already holds it (delta sends nothing), the NACK is unparked.
    await waitFor(
      async () => {
        const t = (await node('edge-1'))!.types.cds!;
        return t.parked === false && (await status()).snapshots['edge-1']?.cds?.version === before.lastAckedVersion;
      },
      5000,
      () => 'CDS back to the good version, unparked',
    );
    assertRouted(await market('m-a'), 'cell-a');
  });

  it('keeps routing while the control plane is down, and resyncs within seconds when it returns', async () => {
    await cp.proc.kill();
    const downAt = Date.now();
    for (let i = 0; i < 5; i++) assertRouted(await market('m-a'), 'cell-a');
    await seedKv(consul.url, { markets: { 'm-while-down': { cell: 'cell-b' } } });
    assertError(await market('m-while-down'), 404, 'unknown_market');
    assertRouted(await market('m-b'), 'cell-b');
    // Down long enough for Envoy's default reconnect backoff (0.5 s → 30 s) to grow past the
    // bootstrap's 2 s cap: with the cap ignored, Envoy came back up to ~16 s late.
    await new Promise((r) => setTimeout(r, Math.max(0, 8000 - (Date.now() - downAt))));
    cp = await cp.restart();
    const readyAt = Date.now();
    await waitFor(
      () => routedTo('m-while-down', 'cell-b'),
      10_000,
      () => 'Envoy to resync after the restart',
      20,
    );
    assert.ok(Date.now() - readyAt < 3500, `resynced ${Date.now() - readyAt} ms after the control plane was ready`);
    assert.equal((await node('edge-1'))!.connected, true);
    assertRouted(await market('m-a'), 'cell-a');
  });

  it('lets a second replica serve the same content versions, to a state-of-the-world Envoy', async () => {
    const cp2 = await startControlPlane(scope, { consulUrl: consul.url, id: 'cp-2', holdMs: HOLD_MS });
    const envoy2 = await startTestEnvoy(scope, { xdsPort: cp2.xdsPort, id: 'edge-2', api: 'sotw' });
    await waitFor(
      () => routedTo('m-b', 'cell-b', envoy2.url),
      15_000,
      () => 'the SotW Envoy to route',
    );
    assertRouted(await market('m-a', envoy2.url), 'cell-a');
    assertError(await market('m-nobody', envoy2.url), 404, 'unknown_market');
    await waitFor(
      async () => {
        const [s1, s2] = [await status(cp), await status(cp2)];
        const a = s1.snapshots['edge-1'];
        const b = s2.snapshots['edge-2'];
        return !!a && !!b && (['cds', 'eds', 'rds', 'srds'] as const).every((t) => a[t]?.version === b[t]?.version);
      },
      8000,
      () => 'equal cds/eds/rds/srds versions on both replicas',
    );
    const n2 = await node('edge-2', cp2);
    assert.equal(n2?.types.srds?.mode, 'sotw');
    assert.equal(n2?.types.srds?.lastAckedVersion, (await status(cp2)).snapshots['edge-2']?.srds?.version);
  });
});
