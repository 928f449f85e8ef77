/**
 * The routing contract suite (docs/contracts.md §Request contract), one set of node:test cases run against every data
 * plane — the Node router and Envoy configured by the xDS server — in the manner of hono's
 * router/common.case.test.ts.
 *
 * API (stable; other parts depend on it):
 *
 * ```ts
 * import { describe } from 'node:test';
 * import { routingContract } from '../infra/harness/routing-contract.js';
 *
 * describe('routing contract: node router', () => {
 *   routingContract({
 *     // Start Consul and the data plane pointed at it; the suite writes the KV records and
 *     // starts the echo cells itself (after start() resolves), then waits for routing.
 *     async start() {
 *       const consul = await startConsul();
 *       const plane = await startMyDataPlane(consul.url);
 *       return { baseUrl: plane.url, consulUrl: consul.url, stop: async () => { await plane.stop(); await consul.proc.stop(); } };
 *     },
 *     holdMs: 2000, // the hold bound the data plane was started with
 *     // skip: { frozen: 'not supported by this plane' },
 *   });
 * });
 * ```
 *
 * Consul state the suite creates (under `prefix`, default `cellsim/`): cells `cell-a`,
 * `cell-b`, `cell-g` (global) and `cell-x` (killed by the dead-cell case), each one echo
 * cell registered as `cellsim-cell`; markets `m-a`→a, `m-b`→b, `m-flip`→a (moved to b),
 * `m-frozen`→a frozen (stays frozen), `m-hold`→a frozen (released to b), `m-x`→x.
 * Cases (names usable in `skip`): routing, global, badInput, unknownMarket, stripCellId,
 * edgePaths, badPaths, requestLimits, flip, frozen, weights, shareMove, deadCell. Cases run in order; deadCell runs last.
 * `weights` adds `cell-w` (a blue and a green echo instance) and `m-w`→w (contract-weights.ts).
 * `shareMove` adds `m-sm`→a moving by share to b, and `cell-sm-empty` without instances (contract-share-move.ts).
 *
 * The path cases send the request target exactly as written (node:http, no URL parsing), each
 * with a valid market header, so a plane that forwarded it would reach the market's cell; the
 * echo cells record every request, and none of these may reach one.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, it } from 'node:test';
import { request } from 'undici';
import { SHARE_PERCENT, shareMoveCase } from './contract-share-move.js';
import { WEIGHTS_PERCENT, weightsCase } from './contract-weights.js';
import { seedKv, startEchoCell, type EchoCell, type EchoReply } from './echo-cell.js';

/** A data plane started for the suite. */
export interface ContractDataPlane {
  /** Where requests go, e.g. `http://127.0.0.1:18080` (no trailing slash). */
  baseUrl: string;
  /** The Consul the data plane reads. */
  consulUrl: string;
  /** KV prefix the data plane reads (default `cellsim/`). */
  prefix?: string;
  /** Stops the data plane and Consul. */
  stop(): Promise<void>;
}

/** The names of the suite's cases. */
export type ContractCase =
  | 'routing'
  | 'global'
  | 'badInput'
  | 'unknownMarket'
  | 'stripCellId'
  | 'edgePaths'
  | 'badPaths'
  | 'requestLimits'
  | 'flip'
  | 'frozen'
  | 'weights'
  | 'shareMove'
  | 'deadCell';

/** Options of {@link routingContract}. */
export interface RoutingContractOptions {
  /** Starts Consul and the data plane (called once, in `before`). */
  start(): Promise<ContractDataPlane>;
  /** The hold bound of frozen markets the plane was started with, in ms (default 2000). */
  holdMs?: number;
  /** How long a Consul change may take to show in the plane, in ms (default 10000). */
  propagationTimeoutMs?: number;
  /** Upper bound for one fast-failed answer of a dead cell, in ms (default 250). */
  fastFailMs?: number;
  /** Cases to skip, with the reason. */
  skip?: Partial<Record<ContractCase, string>>;
  /**
   * Paths outside `/v1/` the plane answers itself on its data port (the router's `/healthz`,
   * `/readyz`, `/metrics`): the path cases check only that they reach no cell. Default none.
   */
  ownPaths?: string[];
}

/** The path of Envoy's active health check of a cell (control-plane/xds/resources/cluster.ts); it reaches the echo cells on its own. */
const EDGE_PROBE_PATH = '/v1/_edge-probe';

/** Paths outside `/v1/`: `404 not_found` on both planes, never sent to a cell. */
export const OUTSIDE_PATHS = [
  '/admin/faults',
  '/admin/markets/m-a/export',
  '/admin/status',
  '/metrics',
  '/healthz',
  '/readyz',
  '/',
  '/v1',
  '/V1/orders',
  '/v2/orders',
  '/orders',
];

/**
 * Non-canonical paths (dot segments, encoded dots, separators and NUL, a backslash, double
 * slashes): `400 invalid_request` on both planes, checked before the `/v1/` prefix, never sent to a cell.
 */
export const BAD_PATHS = [
  '/v1/../admin/faults',
  '/v1/%2e%2e/admin',
  '/v1/%2E%2E/admin/faults',
  '/v1/./orders',
  '/v1/orders/..',
  '/v1/orders/.',
  '/v1%2Forders',
  '/v1/orders%2F..%2F..%2Fadmin',
  '/v1/orders%2f',
  '/v1/orders%5C..%5Cadmin',
  '/v1\\orders',
  '//v1/orders',
  '/v1//orders',
  '/v1/orders//',
  '/v1/orders%00',
  '/v1/orders%00.json',
  '/admin/../v1/orders',
];

/** One answer as the suite sees it. */
export interface ContractAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
  ms: number;
}

/**
 * Sends one request with exactly these header lines (repeats allowed: two `x-market-id`
 * lines stay two lines on the wire).
 */
export async function send(baseUrl: string, path: string, headers: [string, string][] = [], method = 'GET'): Promise<ContractAnswer> {
  const t0 = performance.now();
  const res = await request(`${baseUrl}${path}`, { method: method as 'GET', headers: headers.flat(), headersTimeout: 15_000 });
  const text = await res.body.text();
  const ms = performance.now() - t0;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json, ms };
}

/**
 * Sends one request with this exact request target (node:http writes it as given: no dot
 * segment removal or percent decoding, as a URL parser would do) and these header lines (after
 * `host`, which node does not add to a header list).
 */
export function sendRaw(baseUrl: string, target: string, headers: [string, string][] = [], method = 'GET'): Promise<ContractAnswer> {
  const u = new URL(baseUrl);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, method, path: target, headers: [['host', u.host], ...headers].flat(), agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, ms: performance.now() - t0 });
        });
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer to ${method} ${target} within 15 s`)));
    req.on('error', reject);
    req.end();
  });
}

function header(a: ContractAnswer, name: string): string | undefined {
  const v = a.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Asserts the error shape of docs/contracts.md §Error answers with this status and code. */
export function assertError(a: ContractAnswer, status: number, code: string): void {
  assert.equal(a.status, status, `expected ${status} ${code}, got ${a.status}: ${a.text.slice(0, 300)}`);
  const body = a.json as { error?: { code?: unknown; message?: unknown } } | undefined;
  assert.equal(body?.error?.code, code, `error code in ${a.text.slice(0, 300)}`);
  assert.equal(typeof body?.error?.message, 'string', 'error.message is a string');
}

/** Asserts a routed 200 served by `cell`, with `x-cell-id: <cell>`; returns the echo. */
export function assertRouted(a: ContractAnswer, cell: string): EchoReply {
  assert.equal(a.status, 200, `expected 200 from ${cell}, got ${a.status}: ${a.text.slice(0, 300)}`);
  assert.equal(header(a, 'x-cell-id'), cell, 'x-cell-id names the serving cell');
  const echo = a.json as EchoReply;
  assert.equal(echo.cell, cell, 'the request reached the owning cell');
  return echo;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true or `timeoutMs` passes; returns the elapsed ms. */
async function until(timeoutMs: number, what: string, probe: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      if (await probe()) return Date.now() - t0;
    } catch (err) {
      last = err;
    }
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(25);
  }
}

/** Registers the contract's test cases in the current `describe`. */
export function routingContract(opts: RoutingContractOptions): void {
  const holdMs = opts.holdMs ?? 2000;
  const propagation = opts.propagationTimeoutMs ?? 10_000;
  const fastFailMs = opts.fastFailMs ?? 250;
  let plane: ContractDataPlane | undefined;
  const cells = new Map<string, EchoCell>();
  const base = () => plane!.baseUrl;
  /** How many requests each cell has received so far. */
  const mark = () => new Map([...cells].map(([id, c]) => [id, c.received.length]));
  /** The requests cells received since `m`, but Envoy's active health checks (`/v1/_edge-probe`). */
  const reachedSince = (m: Map<string, number>) =>
    [...cells].flatMap(([id, c]) =>
      c.received
        .slice(m.get(id) ?? 0)
        .filter((r) => r.path !== EDGE_PROBE_PATH)
        .map((r) => `${id}: ${r.method} ${r.path}`),
    );
  const market = (m: string, path = '/v1/orders'): Promise<ContractAnswer> => send(base(), path, [['x-market-id', m]]);
  const caseIt = (name: ContractCase, title: string, fn: () => Promise<void>) => {
    const reason = opts.skip?.[name];
    if (reason !== undefined) it(title, { skip: reason }, () => undefined);
    else it(title, fn);
  };

  before(async () => {
    plane = await opts.start();
    const prefix = plane.prefix ?? 'cellsim/';
    for (const id of ['cell-a', 'cell-b', 'cell-g', 'cell-x']) {
      cells.set(id, await startEchoCell({ cell: id, consulUrl: plane.consulUrl }));
    }
    await seedKv(
      plane.consulUrl,
      {
        cells: { 'cell-a': {}, 'cell-b': {}, 'cell-g': { global: true }, 'cell-x': {} },
        markets: {
          'm-a': { cell: 'cell-a' },
          'm-b': { cell: 'cell-b' },
          'm-flip': { cell: 'cell-a' },
          'm-frozen': { cell: 'cell-a', state: 'frozen' },
          'm-hold': { cell: 'cell-a', state: 'frozen' },
          'm-x': { cell: 'cell-x' },
        },
      },
      prefix,
    );
    await until(propagation, 'the data plane to route m-a, m-b, m-x and /v1/global/', async () => {
      const answers = await Promise.all([market('m-a'), market('m-b'), market('m-x'), send(base(), '/v1/global/ping')]);
      return answers.every((a) => a.status === 200);
    });
  });

  after(async () => {
    for (const c of cells.values()) await c.close().catch(() => undefined);
    await plane?.stop();
  });

  caseIt('routing', 'routes each market to its owning cell and names it in x-cell-id', async () => {
    for (const [m, cell] of [
      ['m-a', 'cell-a'],
      ['m-b', 'cell-b'],
      ['m-a', 'cell-a'],
    ] as const) {
      const echo = assertRouted(await market(m, '/v1/orders?status=new'), cell);
      assert.equal(echo.path, '/v1/orders');
      assert.equal(echo.headers['x-market-id'], m, 'the market header reaches the cell');
    }
    const post = await send(base(), '/v1/orders', [
      ['x-market-id', 'm-b'],
      ['content-type', 'application/json'],
    ]);
    assertRouted(post, 'cell-b');
  });

  caseIt('global', 'routes /v1/global/ to the global cell without a market, whatever market is named', async () => {
    assertRouted(await send(base(), '/v1/global/ping'), 'cell-g');
    assertRouted(await send(base(), '/v1/global/markets', [['x-market-id', 'm-b']]), 'cell-g');
  });

  caseIt('badInput', 'answers 400 missing_market or invalid_market to every bad x-market-id and reaches no cell', async () => {
    const cases: [string, [string, string][], string][] = [
      ['missing', [], 'missing_market'],
      ['empty', [['x-market-id', '']], 'missing_market'],
      ['malformed', [['x-market-id', 'm_a']], 'invalid_market'],
      ['space inside', [['x-market-id', 'm a']], 'invalid_market'],
      ['leading dash', [['x-market-id', '-ma']], 'invalid_market'],
      ['overlong', [['x-market-id', `m${'a'.repeat(63)}`]], 'invalid_market'],
      ['upper case', [['x-market-id', 'M-A']], 'invalid_market'],
      ['comma-joined', [['x-market-id', 'm-a,m-b']], 'invalid_market'],
      [
        'several headers',
        [
          ['x-market-id', 'm-a'],
          ['x-market-id', 'm-b'],
        ],
        'invalid_market',
      ],
    ];
    const before = mark();
    for (const [what, headers, code] of cases) {
      const a = await send(base(), '/v1/orders', headers);
      assert.doesNotThrow(() => assertError(a, 400, code), `${what}: ${a.status} ${a.text.slice(0, 200)}`);
    }
    assert.deepEqual(reachedSince(before), [], 'no bad request reached a cell');
  });

  caseIt('unknownMarket', 'answers 404 unknown_market for a market no cell owns', async () => {
    const before = mark();
    assertError(await market('m-nobody'), 404, 'unknown_market');
    assert.deepEqual(reachedSince(before), []);
  });

  caseIt('stripCellId', 'strips a client-sent x-cell-id: the owner serves and the header cannot pick a cell', async () => {
    const a = await send(base(), '/v1/orders', [
      ['x-market-id', 'm-a'],
      ['x-cell-id', 'cell-b'],
    ]);
    const echo = assertRouted(a, 'cell-a');
    assert.ok(echo.headers['x-cell-id'] === undefined || echo.headers['x-cell-id'] === 'cell-a', 'the client value never reaches the cell');
    assert.equal(
      cells.get('cell-b')!.received.some((r) => r.headers['x-market-id'] === 'm-a'),
      false,
    );
  });

  caseIt('edgePaths', 'answers 404 not_found for every path outside /v1/ and sends none of them to a cell', async () => {
    const own = new Set(opts.ownPaths ?? []);
    const before = mark();
    for (const path of OUTSIDE_PATHS) {
      for (const headers of [[['x-market-id', 'm-a']], []] as [string, string][][]) {
        const a = await sendRaw(base(), path, headers);
        if (own.has(path)) {
          assert.equal((a.json as { cell?: unknown } | undefined)?.cell, undefined, `${path}: answered by the plane, not a cell`);
          assert.equal(header(a, 'x-cell-id'), undefined, `${path}: no cell answered`);
        } else {
          assert.doesNotThrow(
            () => assertError(a, 404, 'not_found'),
            `${path} (${headers.length} header): ${a.status} ${a.text.slice(0, 200)}`,
          );
        }
      }
    }
    assert.deepEqual(reachedSince(before), [], 'no path outside /v1/ reached a cell');
  });

  caseIt(
    'badPaths',
    'answers 400 invalid_request for dot segments, encoded separators, NUL and double slashes, reaching no cell; the query is not checked',
    async () => {
      const before = mark();
      for (const path of BAD_PATHS) {
        const a = await sendRaw(base(), path, [['x-market-id', 'm-a']]);
        assert.doesNotThrow(() => assertError(a, 400, 'invalid_request'), `${path}: ${a.status} ${a.text.slice(0, 200)}`);
      }
      assert.deepEqual(reachedSince(before), [], 'no non-canonical path reached a cell');
      // Positive control: the same request on a canonical path, with those characters in the query, is routed.
      const echo = assertRouted(await sendRaw(base(), '/v1/orders?next=../x&q=%2F%00//', [['x-market-id', 'm-a']]), 'cell-a');
      assert.equal(echo.path, '/v1/orders');
    },
  );

  caseIt(
    'requestLimits',
    'refuses a header name with an underscore (400 invalid_request) and headers over 16 KiB (431 headers_too_large), reaching no cell; drops client x-envoy-* headers',
    async () => {
      const before = mark();
      assertError(
        await sendRaw(base(), '/v1/orders', [
          ['x-market-id', 'm-a'],
          ['x_market_id', 'm-b'],
        ]),
        400,
        'invalid_request',
      );
      assertError(
        await sendRaw(base(), '/v1/orders', [
          ['x-market-id', 'm-a'],
          ['x-big', 'a'.repeat(20_000)],
        ]),
        431,
        'headers_too_large',
      );
      assert.deepEqual(reachedSince(before), [], 'no refused request reached a cell');
      const echo = assertRouted(
        await sendRaw(base(), '/v1/orders', [
          ['x-market-id', 'm-a'],
          ['x-envoy-retry-on', '5xx'],
          ['x-envoy-max-retries', '3'],
          ['x-envoy-upstream-rq-timeout-ms', '1'],
        ]),
        'cell-a',
      );
      for (const h of ['x-envoy-retry-on', 'x-envoy-max-retries', 'x-envoy-upstream-rq-timeout-ms']) {
        assert.equal(echo.headers[h], undefined, `client ${h} reached the cell`);
      }
    },
  );

  caseIt('flip', 'applies a KV move: requests go to the new owner and stay there', async () => {
    assertRouted(await market('m-flip'), 'cell-a');
    await seedKv(plane!.consulUrl, { markets: { 'm-flip': { cell: 'cell-b', epoch: 2 } } }, plane!.prefix);
    await until(propagation, 'm-flip to route to cell-b', async () => header(await market('m-flip'), 'x-cell-id') === 'cell-b');
    for (let i = 0; i < 20; i++) assertRouted(await market('m-flip'), 'cell-b');
  });

  caseIt(
    'frozen',
    'holds a frozen market: 503 market_migrating with Retry-After past the bound, released to the new owner on flip',
    async () => {
      const held = await market('m-frozen');
      assertError(held, 503, 'market_migrating');
      assert.ok(header(held, 'retry-after'), 'Retry-After is set');
      assert.ok(held.ms >= holdMs * 0.9, `held ${held.ms.toFixed(0)} ms, bound ${holdMs} ms`);
      assert.ok(held.ms < holdMs + 3000, `answered soon after the bound (${held.ms.toFixed(0)} ms)`);

      const pending = market('m-hold');
      await sleep(Math.min(300, holdMs / 4));
      await seedKv(plane!.consulUrl, { markets: { 'm-hold': { cell: 'cell-b', epoch: 2 } } }, plane!.prefix);
      const released = await pending;
      assertRouted(released, 'cell-b');
      assert.ok(released.ms < holdMs, `released before the bound (${released.ms.toFixed(0)} ms)`);
    },
  );

  caseIt(
    'weights',
    `sends a shifted cell's green color its share (${WEIGHTS_PERCENT} %) and blue all once the shift is removed`,
    async () => {
      await weightsCase({
        baseUrl: base(),
        consulUrl: plane!.consulUrl,
        prefix: plane!.prefix ?? 'cellsim/',
        cells,
        propagationMs: propagation,
      });
    },
  );

  caseIt(
    'shareMove',
    `moves a market by share: keys below ${SHARE_PERCENT} % of buckets to the target cell, key for key; the rest, and all when the target cannot serve, to the owner`,
    async () => {
      await shareMoveCase({
        send: async (m, headers) => {
          const a = await send(base(), '/v1/orders', [['x-market-id', m], ...headers]);
          return {
            status: a.status,
            cell: header(a, 'x-cell-id'),
            servedBy: (a.json as { cell?: string } | undefined)?.cell,
            text: a.text,
          };
        },
        seed: (data) => seedKv(plane!.consulUrl, data, plane!.prefix),
        setHealthy: (cell, ok) => cells.get(cell)!.setHealthy(ok),
        propagationMs: propagation,
      });
    },
  );

  caseIt('deadCell', 'answers 503 cell_unavailable with Retry-After, fast, for a dead cell while other cells are unaffected', async () => {
    assertRouted(await market('m-x'), 'cell-x');
    await cells.get('cell-x')!.kill();
    await until(propagation, 'm-x to answer 503 cell_unavailable', async () => {
      const a = await market('m-x');
      return a.status === 503 && (a.json as { error?: { code?: string } } | undefined)?.error?.code === 'cell_unavailable';
    });
    for (let i = 0; i < 10; i++) {
      const a = await market('m-x');
      assertError(a, 503, 'cell_unavailable');
      assert.ok(header(a, 'retry-after'), 'Retry-After is set');
      assert.ok(a.ms < fastFailMs, `answered in ${a.ms.toFixed(1)} ms (bound ${fastFailMs} ms)`);
      const ok = await market('m-a');
      assertRouted(ok, 'cell-a');
      assert.ok(ok.ms < fastFailMs, `a healthy cell answered in ${ok.ms.toFixed(1)} ms`);
    }
  });
}
